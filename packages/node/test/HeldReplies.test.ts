/**
 * Crash accounting when a child holds replies back, on real forked workers.
 *
 * A child serving one run at a time holds replies back while short runs
 * follow (at most 1 ms, 64 replies), and says so with `Holding` frames. The
 * parent must still never run an item twice without `retries`, and must
 * fail no more than it has to:
 * - a child that exits (`process.exit`, an uncaught error) sends what it held
 *   and `Exiting` as its last words: only the run in progress fails;
 * - a child killed by a signal while holding says nothing: every unanswered
 *   item of the oldest message it had not fully answered fails, the rest are
 *   requeued and succeed on the replacement;
 * - a child that was not holding (long runs) keeps the exact rule: only the
 *   run in progress fails.
 *
 * Each pool has one worker, so runs are in submission order; every task
 * writes `id pid` to a run log before anything else, which tells which items
 * ran, in which worker, and whether any ran twice.
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

/** Twenty short runs, so the worker has loaded the task and knows its runs are short: it will hold replies back. */
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

describe("Held replies: a worker that dies while replies may be held back", () => {
  for (const how of ["exit", "uncaught"] as const) {
    it.live(
      `a short run that ends its worker (${how}) leaves last words: only that run fails, 99 succeed, none runs twice`,
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
    "a short run that SIGKILLs its worker while replies are held: the oldest unanswered message fails, the rest succeed, none runs twice",
    () =>
      withPool("process", { size: 1 }, (pool) =>
        Effect.gen(function* () {
          yield* warmUp(pool)
          const log = tempFile("runs")
          const dieAt = 57
          const exits = yield* shortBatch(pool, log, dieAt, "sigkill")
          const failed = failedIds(exits)
          // At most one message's worth: the run in progress plus the prefetched ones (concurrency 1 + prefetch 32).
          expect(failed.length).toBeGreaterThanOrEqual(1)
          expect(failed.length).toBeLessThanOrEqual(33)
          expect(failed).toContain(dieAt)
          for (const id of failed) {
            expect(errorOf(exits[id]!)).toMatchObject({
              _tag: "WorkerCrashed",
              task: "held/Short",
              exitCode: null,
              signal: "SIGKILL",
              attempts: 1
            })
          }
          expectSquares(exits)
          const runs = H.readLog(log)
          const counts = runCounts(runs)
          expect([...counts].filter(([, count]) => count > 1)).toEqual([])
          // Every success ran exactly once; a failure ran at most once, and if it ran, it ran in the worker that
          // died, before it died: nothing that failed was run again by the replacement.
          const dead = runs.find((run) => run.id === dieAt)!.pid
          const deathAt = runs.findIndex((run) => run.id === dieAt)
          for (const id of range(100)) {
            if (!failed.includes(id)) expect(counts.get(id)).toBe(1)
          }
          for (const id of failed) {
            const at = runs.findIndex((run) => run.id === id)
            if (at >= 0) {
              expect(runs[at]!.pid).toBe(dead)
              expect(at).toBeLessThanOrEqual(deathAt)
            }
          }
          expect(runs.slice(deathAt + 1).every((run) => run.pid !== dead)).toBe(true)
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
    "a worker running long tasks is not holding: SIGKILLed during the 3rd, only the 3rd fails, 9 succeed, none runs twice",
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
