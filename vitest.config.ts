import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
