import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

/**
 * The reliability suite: load, chaos and boundaries on real processes
 * (`npm run test:reliability`). A project of its own, outside the root
 * config's `projects`, so `npm test` does not run it.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  test: {
    name: "reliability",
    include: ["**/*.test.ts"],
    // One file at a time: each forks many children and measures time bounds and the parent's memory.
    maxWorkers: 1,
    fileParallelism: false,
    // A real garbage collection before every heap measurement.
    execArgv: ["--expose-gc"],
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
