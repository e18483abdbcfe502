/** workerpool as a contender, with `workerType` process or thread and `minWorkers = maxWorkers = size`. */
import { fileURLToPath } from "node:url"
import workerpool from "workerpool"
import type { Contender } from "./types.ts"

const script = fileURLToPath(new URL("../workers/workerpoolWorker.mjs", import.meta.url))

export const makeWorkerpool = (workerType: "process" | "thread"): Contender => {
  let pool: workerpool.Pool | undefined
  return {
    kind: workerType,
    start: async (size) => {
      pool = workerpool.pool(script, { workerType, minWorkers: size, maxWorkers: size })
    },
    run: (n) => pool!.exec("square", [n]) as unknown as Promise<number>,
    runCpu: (iterations) => pool!.exec("spin", [iterations]) as unknown as Promise<number>,
    runCrash: (n) => pool!.exec("crash", [n]) as unknown as Promise<number>,
    // workerpool keeps its handlers in `workers`; each process handler holds the ChildProcess as `worker`.
    pids: async () =>
      workerType === "process"
        ? ((pool as unknown as { workers: Array<{ worker: { pid?: number } }> }).workers ?? []).map(
            (handler) => handler.worker.pid ?? 0
          )
        : [],
    close: async () => {
      await pool?.terminate(false, 5000)
    }
  }
}
