/**
 * The pool's restarts go through the restart core shared with supervision
 * trees (`RestartPolicy.makeRestarter`): its `backoff` takes the same
 * `maxRestarts` and `resetAfter` as a supervisor's. Real workers fail for real.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { eventually, tempFile, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"

it.live(
  "backoff.maxRestarts: a worker that fails maxRestarts + 1 times in a row gives the pool up, well within its intensity",
  () =>
    Effect.gen(function* () {
      const attempts = tempFile("init")
      const error = yield* withPool(
        "process",
        {
          size: 1,
          initializer: { task: T.FailingInit, payload: attempts },
          restartIntensity: { maxRestarts: 100, period: "1 minute" },
          backoff: { min: "20 millis", max: "40 millis", randomFactor: 0, maxRestarts: 2 }
        },
        (pool) =>
          eventually(
            Effect.orDie(Effect.flip(pool.apply(T.Square, 2))),
            (failure) => failure._tag === "RestartIntensityExceeded",
            20_000
          )
      )
      expect(error).toMatchObject({ _tag: "RestartIntensityExceeded", restarts: 3 })
      expect(error.message).toContain("maxRestarts 2")
      // The first start and two restarts, each failing: the third failure in a row gave up.
      expect(T.countTicks(attempts)).toBe(3)
    }),
  30_000
)
