/**
 * The pool's restarts go through the restart core shared with supervision
 * trees (`RestartPolicy.makeRestarter`): its `backoff` takes the same
 * `maxRestarts` and `resetAfter` as a supervisor's. Real workers fail for real.
 */
import { expect, it } from "@effect/vitest"
import type { Pool } from "@troupe/core"
import { Effect, Ref, Stream } from "effect"
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
            (failure) => failure._tag === "RestartIntensityExceeded"
          )
      )
      expect(error).toMatchObject({ _tag: "RestartIntensityExceeded", restarts: 3 })
      expect(error.message).toContain("maxRestarts 2")
      // The first start and two restarts, each failing: the third failure in a row gave up.
      expect(T.countTicks(attempts)).toBe(3)
    }),
  30_000
)

it.live(
  "a worker that answered a task before it crashed was healthy: its replacement waits min, not a growing backoff",
  () =>
    withPool(
      "process",
      {
        size: 1,
        restartIntensity: { maxRestarts: 100, period: "1 minute" },
        backoff: { min: "50 millis", max: "5 seconds", randomFactor: 0, resetAfter: "1 hour" }
      },
      (pool) =>
        Effect.gen(function* () {
          const delays = yield* Ref.make<ReadonlyArray<number>>([])
          yield* Stream.runForEach(pool.events, (event) =>
            event._tag === "WorkerRestarting" ? Ref.update(delays, (all) => [...all, event.delayMs]) : Effect.void
          ).pipe(Effect.forkScoped)
          yield* Effect.sleep(20)
          // Four crashes in a row, each by a task sent to a worker that had answered one first.
          for (let crash = 0; crash < 4; crash++) {
            expect(yield* pool.apply(T.Square, 3)).toBe(9)
            const error = yield* Effect.flip(pool.apply(T.CrashAt, { i: 0, crashAt: 0, ms: 0, mode: "exit" }))
            expect(error._tag).toBe("WorkerCrashed")
          }
          expect(yield* pool.apply(T.Square, 4)).toBe(16)
          expect(yield* eventually(Ref.get(delays), (all) => all.length === 4)).toEqual([50, 50, 50, 50])
        }).pipe(Effect.scoped)
    ),
  60_000
)

it.live(
  "a worker killed by the task it was running was healthy too: a burst of such crashes restarts each after min",
  () =>
    withPool(
      "process",
      {
        size: 1,
        intensity: 100,
        period: "1 minute",
        backoff: { min: "50 millis", max: "5 seconds", randomFactor: 0, resetAfter: "1 hour" }
      },
      (pool) =>
        Effect.gen(function* () {
          const delays = yield* Ref.make<ReadonlyArray<number>>([])
          yield* Stream.runForEach(pool.events, (event) =>
            event._tag === "WorkerRestarting" ? Ref.update(delays, (all) => [...all, event.delayMs]) : Effect.void
          ).pipe(Effect.forkScoped)
          yield* Effect.sleep(20)
          // Four crashes in a row, each by the first task a fresh worker runs.
          for (let crash = 0; crash < 4; crash++) {
            const error = yield* Effect.flip(pool.apply(T.CrashAt, { i: 0, crashAt: 0, ms: 0, mode: "exit" }))
            expect(error._tag).toBe("WorkerCrashed")
          }
          expect(yield* pool.apply(T.Square, 4)).toBe(16)
          expect(yield* eventually(Ref.get(delays), (all) => all.length === 4)).toEqual([50, 50, 50, 50])
        }).pipe(Effect.scoped)
    ),
  60_000
)

it.live(
  "past its restart intensity a pool goes on degraded by default: workers restart after the backoff's max, and it says so",
  () =>
    withPool(
      "process",
      {
        size: 1,
        restartIntensity: { maxRestarts: 1, period: "1 minute" },
        backoff: { min: "20 millis", max: "300 millis", randomFactor: 0 }
      },
      (pool) =>
        Effect.gen(function* () {
          const events = yield* Ref.make<ReadonlyArray<Pool.Event>>([])
          yield* Stream.runForEach(pool.events, (event) => Ref.update(events, (all) => [...all, event])).pipe(
            Effect.forkScoped
          )
          yield* Effect.sleep(20)
          expect((yield* pool.stats).degraded).toBe(false)
          for (let crash = 0; crash < 3; crash++) {
            const error = yield* Effect.flip(pool.apply(T.CrashAt, { i: 0, crashAt: 0, ms: 0, mode: "exit" }))
            expect(error._tag).toBe("WorkerCrashed")
          }
          // Still serving: the third crash was past the intensity (1 restart in a minute), not the end of the pool.
          expect(yield* pool.apply(T.Square, 5)).toBe(25)
          expect((yield* pool.stats).degraded).toBe(true)
          const all = yield* Ref.get(events)
          const tags = all.map((event) => event._tag)
          expect(tags).not.toContain("PoolGaveUp")
          expect(all.filter((event) => event._tag === "PoolOverIntensity")).toHaveLength(2)
          expect(all.flatMap((event) => (event._tag === "WorkerRestarting" ? [event.delayMs] : []))).toEqual([
            20, 300, 300
          ])
        }).pipe(Effect.scoped)
    ),
  60_000
)
