import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "node",
    include: ["test/**/*.test.ts"],
    // One file at a time: the files fork many real children, and on a small machine parallel files would
    // turn the scenarios' time bounds into a measure of CPU contention.
    fileParallelism: false,
    // Generous bounds that catch hangs; project configs do not inherit the root's.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
