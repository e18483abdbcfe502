import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "cluster",
    include: ["test/**/*.test.ts"],
    // Generous bounds that catch hangs; project configs do not inherit the root's.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
