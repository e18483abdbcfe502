/**
 * Crash accounting on real forked workers: a worker writes every reply to its
 * channel before it starts another run, so however it dies, `process.exit`,
 * an uncaught error or `SIGKILL` (the out-of-memory killer, `kill -9`), only
 * the run in progress may have run: it alone fails (`WorkerCrashed`), every
 * other item succeeds, and no item without `retries` runs twice.
 *
 * Every task writes `id pid` to a run log before anything else, which tells
 * which items ran, in which worker, and whether any ran twice.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Pool } from "@troupe/core"
import { Effect, Exit, Fiber, Option } from "effect"
import * as H from "./fixtures/heldReplies.ts"
import { range, tempFile, withPool } from "./fixtures/pool.ts"

type Outcome = Exit.Exit<number, unknown>

/** The error of a failed outcome, `undefined` for a success. */
const errorOf = (exit: Outcome): unknown => Option.getOrUndefined(Exit.findErrorOption(exit))

/** The ids whose outcome is a failure, in input order. */
const failedIds = (exits: ReadonlyArray<Outcome>): Array<number> =>
  exits.flatMap((exit, id) => (Exit.isFailure(exit) ? [id] : []))

/** How many times each id ran. */
const runCounts = (runs: ReadonlyArray<H.Run>): Map<number, number> => {
  const counts = new Map<number, number>()
  for (const { id } of runs) counts.set(id, (counts.get(id) ?? 0) + 1)
  return counts
}

/** Every success carries `id * id`. */
const expectSquares = (exits: ReadonlyArray<Outcome>) => {
  exits.forEach((exit, id) => {
    if (Exit.isSuccess(exit)) expect(exit.value).toBe(id * id)
  })
}

/** A run of the short task that does not die. */
const survive = (log: string) => (id: number) => ({ id, log, dieAt: -1, how: "exit" as const })

/** Twenty short runs first, so the worker has loaded the task: the batch that follows is a stream of tiny runs. */
const warmUp = (pool: Pool.Service) =>
  Effect.gen(function* () {
    const log = tempFile("warm-up")
    const squares = yield* pool.map(H.Short, range(20).map(survive(log)), { chunkSize: 1 })
    expect(squares).toEqual(range(20).map((id) => id * id))
  })

/** A batch of 100 short runs, item `dieAt` dying `how`, all in flight at once. */
const shortBatch = (pool: Pool.Service, log: string, dieAt: number, how: typeof H.HowToDie.Type) =>
  pool.mapSettled(
    H.Short,
    range(100).map((id) => ({ id, log, dieAt, how })),
    { chunkSize: 1 }
  ) as Effect.Effect<Array<Outcome>, unknown>

describe("Held replies: a worker that dies has sent every reply but the running one's", () => {
  for (const how of ["exit", "uncaught"] as const) {
    it.live(
      `a short run that ends its worker (${how}): only that run fails, 99 succeed, none runs twice`,
      () =>
        withPool("process", { size: 1 }, (pool) =>
          Effect.gen(function* () {
            yield* warmUp(pool)
            const log = tempFile("runs")
            const dieAt = 57
            const exits = yield* shortBatch(pool, log, dieAt, how)
            expect(failedIds(exits)).toEqual([dieAt])
            expect(errorOf(exits[dieAt]!)).toMatchObject({
              _tag: "WorkerCrashed",
              task: "held/Short",
              exitCode: 1,
              signal: null,
              attempts: 1
            })
            expectSquares(exits)
            // The 99 that succeeded ran once; the one that died ran once and was not run again.
            const counts = runCounts(H.readLog(log))
            expect(range(100).filter((id) => counts.get(id) !== 1)).toEqual([])
            expect(counts.size).toBe(100)
            expect(yield* pool.map(H.Short, range(10).map(survive(log)), { chunkSize: 1 })).toEqual(
              range(10).map((id) => id * id)
            )
          })
        ),
      60_000
    )
  }

  it.live(
    "a short run that SIGKILLs its worker: only that run fails, 99 succeed, none runs twice",
    () =>
      withPool("process", { size: 1 }, (pool) =>
        Effect.gen(function* () {
          yield* warmUp(pool)
          const log = tempFile("runs")
          const dieAt = 57
          const exits = yield* shortBatch(pool, log, dieAt, "sigkill")
          expect(failedIds(exits)).toEqual([dieAt])
          expect(errorOf(exits[dieAt]!)).toMatchObject({
            _tag: "WorkerCrashed",
            task: "held/Short",
            exitCode: null,
            signal: "SIGKILL",
            attempts: 1
          })
          expectSquares(exits)
          const runs = H.readLog(log)
          const counts = runCounts(runs)
          expect(range(100).filter((id) => counts.get(id) !== 1)).toEqual([])
          expect(counts.size).toBe(100)
          // The replacement ran only what came after the one that died.
          const dead = runs.find((run) => run.id === dieAt)!.pid
          expect(runs.filter((run) => run.pid === dead).map((run) => run.id)).toEqual(range(dieAt + 1))
          // The pool heals: a fresh worker serves the next tasks.
          const after = tempFile("after")
          expect(yield* pool.map(H.Short, range(20).map(survive(after)), { chunkSize: 1 })).toEqual(
            range(20).map((id) => id * id)
          )
          expect(H.readLog(after).every((run) => run.pid !== dead)).toBe(true)
        })
      ),
    60_000
  )

  it.live(
    "replies larger than the socket takes at once (the channel queues them), then a SIGKILL: only the killed run fails",
    () =>
      withPool("process", { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const log = tempFile("runs")
          const dieAt = 7
          const size = 1024 * 1024
          const exits = (yield* pool.mapSettled(
            H.Large,
            range(10).map((id) => ({ id, log, dieAt, size })),
            { chunkSize: 1 }
          )) as Array<Exit.Exit<string, unknown>>
          expect(exits.flatMap((exit, id) => (Exit.isFailure(exit) ? [id] : []))).toEqual([dieAt])
          expect(Option.getOrUndefined(Exit.findErrorOption(exits[dieAt]!))).toMatchObject({
            _tag: "WorkerCrashed",
            signal: "SIGKILL",
            attempts: 1
          })
          exits.forEach((exit, id) => {
            if (Exit.isSuccess(exit)) expect(exit.value).toBe(String(id).padEnd(size, "x"))
          })
          const counts = runCounts(H.readLog(log))
          expect(range(10).filter((id) => counts.get(id) !== 1)).toEqual([])
        })
      ),
    60_000
  )

  it.live(
    "1,000 tasks at once on 2 workers, every 50th SIGKILLs its own worker: 980 succeed, 20 WorkerCrashed, none runs twice",
    () =>
      withPool(
        "process",
        {
          size: 2,
          restartIntensity: { maxRestarts: 100, period: "1 minute" },
          backoff: { min: "1 millis", max: "5 millis", randomFactor: 0 }
        },
        (pool) =>
          Effect.gen(function* () {
            const log = tempFile("runs")
            const exits = yield* Effect.forEach(
              range(1000),
              (id) => Effect.exit(pool.apply(H.Suicidal, { id, log, every: 50 })),
              { concurrency: "unbounded" }
            )
            const failed = exits.flatMap((exit, id) => (Exit.isFailure(exit) ? [id] : []))
            expect(failed).toEqual(range(20).map((i) => i * 50 + 49))
            for (const id of failed) {
              expect(errorOf(exits[id]!)).toMatchObject({ _tag: "WorkerCrashed", signal: "SIGKILL", attempts: 1 })
            }
            expectSquares(exits)
            const counts = runCounts(H.readLog(log))
            expect(range(1000).filter((id) => counts.get(id) !== 1)).toEqual([])
          })
      ),
    120_000
  )

  it.live(
    "a worker running long tasks, SIGKILLed during the 3rd: only the 3rd fails, 9 succeed, none runs twice",
    () =>
      withPool("process", { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const log = tempFile("runs")
          const batch = yield* Effect.forkChild(
            pool.mapSettled(
              H.Slow,
              range(10).map((id) => ({ id, log, ms: 30 })),
              { chunkSize: 1 }
            ) as Effect.Effect<Array<Outcome>, unknown>
          )
          // Polled every millisecond: the 3rd run lasts 30.
          const deadline = Date.now() + 30_000
          let runs = H.readLog(log)
          while (!runs.some((run) => run.id === 2) && Date.now() < deadline) {
            yield* Effect.sleep(1)
            runs = H.readLog(log)
          }
          const third = runs.at(-1)!
          expect(third.id).toBe(2)
          process.kill(third.pid, "SIGKILL")
          const exits = yield* Fiber.join(batch)
          expect(failedIds(exits)).toEqual([2])
          expect(errorOf(exits[2]!)).toMatchObject({
            _tag: "WorkerCrashed",
            task: "held/Slow",
            pid: third.pid,
            exitCode: null,
            signal: "SIGKILL",
            attempts: 1
          })
          expectSquares(exits)
          const counts = runCounts(H.readLog(log))
          expect(range(10).filter((id) => counts.get(id) !== 1)).toEqual([])
          expect(counts.size).toBe(10)
        })
      ),
    60_000
  )
})
