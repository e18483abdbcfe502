/**
 * Readiness: `pool.ready` (and `Pool.awaitReady`) waits until no worker is
 * starting, so a service can say it is ready once its workers are up.
 */
import { describe, expect, it } from "@effect/vitest"
import { Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Effect } from "effect"
import { backends, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"

describe.each(backends)("Pool readiness (%s)", (backend) => {
  it.live("an eager pool is ready once every worker has started", () =>
    withPool(backend, { size: 3, tasks: [T.Square] }, (pool) =>
      Effect.gen(function* () {
        yield* pool.ready.pipe(Effect.timeout("30 seconds"))
        const { workers } = yield* pool.stats
        expect(workers.map((worker) => worker.state)).toEqual(["ready", "ready", "ready"])
        expect(workers.every((worker) => worker.pid > 0)).toBe(true)
      })
    )
  )

  it.live("Pool.awaitReady waits on the pool in the context; a lazy pool starts nothing and is ready", () =>
    Effect.gen(function* () {
      yield* Pool.awaitReady.pipe(Effect.timeout("30 seconds"))
      const { workers } = yield* Pool.Pool.use((pool) => pool.stats)
      // A lazy pool makes its slots as it first uses them: none yet, so no worker either.
      expect(workers).toEqual([])
    }).pipe(Effect.provide(NodePool.layer({ size: 2, backend, start: "lazy" })))
  )
})
