import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*", "examples"],
    // One test file at a time, across projects: the files fork many real children, and on a small machine
    // parallel files would turn the scenarios' time bounds into a measure of CPU contention.
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
