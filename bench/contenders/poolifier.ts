/** poolifier as a contender: `FixedClusterPool` or `FixedThreadPool` of `size` workers. */
import { fileURLToPath } from "node:url"
import { FixedClusterPool, FixedThreadPool } from "poolifier"
import type { Contender } from "./types.ts"

type AnyPool = FixedClusterPool<number, number> | FixedThreadPool<number, number>

export const makePoolifier = (kind: "cluster" | "thread"): Contender => {
  let pool: AnyPool | undefined
  const script = fileURLToPath(
    new URL(kind === "cluster" ? "../workers/poolifierCluster.mjs" : "../workers/poolifierThread.mjs", import.meta.url)
  )
  return {
    kind: kind === "cluster" ? "process" : "thread",
    start: async (size) => {
      pool = kind === "cluster" ? new FixedClusterPool(size, script) : new FixedThreadPool(size, script)
      // Without a listener, a worker's death (EPIPE on send) is an unhandled 'error' event that ends the parent.
      pool.emitter?.on("error", () => {})
    },
    run: (n) => pool!.execute(n, "square"),
    runCpu: (iterations) => pool!.execute(iterations, "spin"),
    runCrash: (n) => pool!.execute(n, "crash"),
    pids: async () =>
      kind === "cluster"
        ? (pool as FixedClusterPool<number, number>).workerNodes.map((node) => node.worker.process.pid ?? 0)
        : [],
    close: async () => {
      await pool?.destroy()
    }
  }
}
