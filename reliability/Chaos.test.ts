/**
 * Chaos: 10,000 tasks on a pool of 4 while a worker is SIGKILLed every
 * 50-200 ms (and more tasks, 1,000 at a time, until the chaos has killed 12
 * workers: the pool may finish 10,000 before that). With retries every task succeeds; without, every task settles
 * and each failure is a typed crash. In both, no call waits longer than its
 * bound and the parent's heap comes back to within 20 MB.
 */
import { describe, expect, it } from "@effect/vitest"
import { Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Effect, Schedule } from "effect"
import { call, chaosPoolOptions, emptyTally, mb, percentile, settledHeap, startChaos } from "./chaos.ts"
import { report } from "./report.ts"

const tasks = 10_000
/** The run goes on past `tasks` until this many workers were killed (at most ten times `tasks`). */
const minKills = 12
const round = 1000
/** Callers in flight at once: enough to keep every worker busy, few enough that queueing stays short. */
const callers = 64
const timeoutMs = 2000
/** Waiting in the queue while workers restart: a generous allowance on a shared 2-core machine. */
const queueAllowanceMs = 3000
const heapBoundBytes = 20 * 1024 * 1024

const runChaos = (retries: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* Pool.make(chaosPoolOptions)
      const options = { retries, timeout: timeoutMs, taskMs: 1, keepDurations: true }
      // Warm up without chaos: workers loaded, codecs compiled, the parent's code paths optimized.
      const warm = emptyTally()
      yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, i) => i),
        (i) => call(pool, i, warm, options),
        { concurrency: callers, discard: true }
      )
      expect(warm.succeeded).toBe(1000)
      const heapBefore = yield* settledHeap
      const restartsBefore = (yield* pool.stats).restarts

      const tally = emptyTally()
      const chaos = yield* startChaos(pool)
      const started = performance.now()
      let submitted = 0
      while (submitted < tasks || (chaos.kills() < minKills && submitted < 10 * tasks)) {
        const first = submitted
        yield* Effect.forEach(
          Array.from({ length: round }, (_, i) => first + i),
          (i) => call(pool, i, tally, options),
          { concurrency: callers, discard: true }
        )
        submitted += round
      }
      const elapsedMs = performance.now() - started
      yield* chaos.stop
      // The last kill may be a few ms old, its replacement still in backoff: wait for the restarts
      // to catch up (bounded: a pool that stops restarting fails the check below).
      const restartsSince = pool.stats.pipe(Effect.map((stats) => stats.restarts - restartsBefore))
      const restarts = yield* restartsSince.pipe(
        Effect.repeat({ until: (n) => n >= chaos.kills(), schedule: Schedule.spaced("10 millis") }),
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => restartsSince })
      )
      const heapAfter = yield* settledHeap
      return {
        tally,
        submitted,
        durations: tally.durations,
        elapsedMs,
        kills: chaos.kills(),
        restarts,
        heapBefore,
        heapAfter
      }
    })
  ).pipe(Effect.provide(NodePool.transport("process")))

type ChaosRun = Effect.Success<ReturnType<typeof runChaos>>

/** Prints a run's figures; returns its longest call, in ms. */
const reportRun = (name: string, run: ChaosRun, bound: number): number => {
  const { tally } = run
  const max = Math.max(...run.durations)
  report(name, {
    tasks: run.submitted,
    succeeded: tally.succeeded,
    failed: tally.failed,
    byTag: Object.fromEntries(tally.byTag),
    kills: run.kills,
    restarts: run.restarts,
    seconds: Math.round(run.elapsedMs / 100) / 10,
    p50Ms: Math.round(percentile(run.durations, 50)),
    p99Ms: Math.round(percentile(run.durations, 99)),
    maxMs: Math.round(max),
    boundMs: bound,
    heapBeforeMb: mb(run.heapBefore),
    heapAfterMb: mb(run.heapAfter)
  })
  return max
}

describe("chaos: a worker SIGKILLed every 50-200 ms under 10,000 tasks", () => {
  it.live(
    "with retries: 5, every task succeeds, no call waits past its bound, the heap comes back",
    () =>
      Effect.gen(function* () {
        const retries = 5
        const run = yield* runChaos(retries)
        const { tally } = run
        const bound = (retries + 1) * timeoutMs + queueAllowanceMs
        const max = reportRun("chaos, retries 5", run, bound)
        expect(tally.settled).toBe(run.submitted)
        expect(Object.fromEntries(tally.byTag)).toEqual({})
        expect(tally.succeeded).toBe(run.submitted)
        expect(tally.wrong).toBe(0)
        expect(run.kills).toBeGreaterThanOrEqual(minKills)
        expect(run.restarts).toBeGreaterThanOrEqual(run.kills)
        expect(max).toBeLessThanOrEqual(bound)
        expect(run.heapAfter - run.heapBefore).toBeLessThan(heapBoundBytes)
      }),
    120_000
  )

  it.live(
    "with no retries, every task settles, each failure a WorkerCrashed; no call waits past its bound",
    () =>
      Effect.gen(function* () {
        const run = yield* runChaos(0)
        const { tally } = run
        const bound = timeoutMs + queueAllowanceMs
        const max = reportRun("chaos, retries 0", run, bound)
        expect(tally.settled).toBe(run.submitted)
        expect(tally.succeeded + tally.failed).toBe(run.submitted)
        expect(tally.failed).toBeGreaterThan(0)
        expect([...tally.byTag.keys()]).toEqual(["WorkerCrashed"])
        // At most once: a kill fails at most the tasks its worker was running (8 at a time).
        expect(tally.failed).toBeLessThanOrEqual(8 * run.kills)
        expect(tally.wrong).toBe(0)
        expect(max).toBeLessThanOrEqual(bound)
        expect(run.heapAfter - run.heapBefore).toBeLessThan(heapBoundBytes)
      }),
    120_000
  )
})
