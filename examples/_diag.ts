import { Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Effect } from "effect"
import { Work } from "./_light.ts"

if (import.meta.main) {
  await Effect.runPromise(
    Effect.gen(function* () {
      const pool = yield* Pool.Pool
      for (let round = 0; round < 3; round++) {
        for (;;) {
          const s = yield* pool.stats
          if (s.workers.every((w) => w.state === "ready")) break
          yield* Effect.sleep(5)
        }
        const times: Array<number> = []
        for (let i = 0; i < 5; i++) {
          const t = performance.now()
          yield* pool.apply(Work, i)
          times.push(Math.round(performance.now() - t))
        }
        console.log("first tasks after ready (ms):", times.join(" "))
        const pid = (yield* pool.stats).workers[0]!.pid
        process.kill(pid, "SIGKILL")
        const t = performance.now()
        for (;;) {
          const s = yield* pool.stats
          if (s.workers[0]!.pid !== pid && s.workers[0]!.state === "ready") break
          yield* Effect.sleep(2)
        }
        console.log("restart to ready (ms):", Math.round(performance.now() - t))
      }
    }).pipe(Effect.provide(NodePool.layer({ size: 1, backoff: { min: "1 millis", max: "5 millis", randomFactor: 0 } })))
  )
}
