/**
 * Troupe's Promise API (`PromisePool.make`) as a contender, on either
 * backend: one `pool.run` per task, as a program without Effect calls it.
 */
import { PromisePool } from "@troupe/node"
import * as Tasks from "../workers/troupeTasks.ts"
import { optionsFromEnv } from "./troupe.ts"
import type { Contender } from "./types.ts"

export const makeTroupePromise = (backend: "process" | "thread"): Contender => {
  let pool: PromisePool.PromisePool | undefined
  return {
    kind: backend,
    start: async (size) => {
      pool = await PromisePool.make({
        backend,
        size,
        ...optionsFromEnv(),
        tasks: Tasks.all,
        // As in troupe.ts: the crash probe kills workers faster than the default intensity allows.
        intensity: 1000,
        period: "10 seconds"
      })
    },
    run: (n) => pool!.run(Tasks.Square, n),
    runCpu: (iterations) => pool!.run(Tasks.Spin, iterations),
    runCrash: (n) => pool!.run(Tasks.Crash, n),
    pids: async () => (backend === "process" ? (await pool!.stats()).workers.map((worker) => worker.pid) : []),
    close: async () => {
      await pool?.close()
    }
  }
}
