/**
 * A raw pool called as an Effect program calls a pool from Promise code: one
 * `Effect.runPromiseWith(context)` per task, the task an `Effect.callback`
 * that the raw pool settles. Nothing of Troupe runs here; what this costs
 * over the raw pool itself is the fiber per call, which any pool called this
 * way pays (issue 16's "callers outside Effect" probe). So its ratio to the
 * raw pool is the ceiling for `troupe-process` in that probe.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { op } from "../workers/work.mjs"
import type { RawPool } from "./rawPool.ts"
import type { Contender } from "./types.ts"

export const makeRawThroughEffect = (raw: RawPool): Contender => {
  const run = Effect.runPromiseWith(Context.empty())
  const call = (code: number, arg: number): Promise<number> =>
    run(
      Effect.callback<number, Error>((resume) => {
        raw.submitWith(
          code,
          arg,
          (value) => resume(Effect.succeed(value)),
          (error) => resume(Effect.fail(error))
        )
      })
    )
  return {
    kind: raw.kind,
    start: (size) => raw.start(size),
    run: (n) => call(op.square, n),
    runCpu: (iterations) => call(op.spin, iterations),
    runCrash: (n) => call(op.crash, n),
    pids: () => raw.pids(),
    close: () => raw.close()
  }
}
