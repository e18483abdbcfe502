/**
 * The chaos workload, shared by the suite (`Chaos.test.ts`) and the soak
 * mode (`soak.ts`): tasks go through `apply`, each with its own deadline,
 * while a chaos fiber SIGKILLs a random worker every 50-200 ms. Every call's
 * outcome and wall time are recorded, so a test can check that every call
 * settled, how each one failed, and that none waited longer than its bound.
 */
import type { Pool } from "@troupe/core"
import { Effect, Exit, Fiber, Option } from "effect"
import { Work } from "./fixtures/tasks.ts"

/** How a finished call ended: `ok`, or the `_tag` of its error (`defect` for anything untyped). */
export type Outcome = "ok" | string

export interface Tally {
  settled: number
  succeeded: number
  failed: number
  /** Failures by error tag. */
  readonly byTag: Map<string, number>
  /** Wall time of every settled call, in milliseconds. */
  readonly durations: Array<number>
  /** Wrong results (a success that is not the echoed input): never expected. */
  wrong: number
}

export const emptyTally = (): Tally => ({
  settled: 0,
  succeeded: 0,
  failed: 0,
  byTag: new Map(),
  durations: [],
  wrong: 0
})

const tagOf = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Exit.findErrorOption(exit)
  return Option.isSome(error) && typeof error.value === "object" && error.value !== null && "_tag" in error.value
    ? String(error.value._tag)
    : "defect"
}

export interface CallOptions {
  readonly retries: number
  readonly timeout: number
  /** How long the task waits in its worker, in milliseconds. */
  readonly taskMs: number
  /** Keep durations (the suite does; the soak does not, to keep its own memory flat). */
  readonly keepDurations: boolean
}

/** One call: `apply` with its deadline, measured from the call to its outcome. */
export const call = (pool: Pool.Service, n: number, tally: Tally, options: CallOptions) =>
  Effect.suspend(() => {
    const started = performance.now()
    return pool.apply(Work, { n, ms: options.taskMs }, { retries: options.retries, timeout: options.timeout }).pipe(
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.sync(() => {
          const tag = tagOf(exit)
          tally.settled++
          if (options.keepDurations) tally.durations.push(performance.now() - started)
          if (tag === "ok") {
            tally.succeeded++
            if (Exit.isSuccess(exit) && exit.value !== n) tally.wrong++
          } else {
            tally.failed++
            tally.byTag.set(tag, (tally.byTag.get(tag) ?? 0) + 1)
          }
        })
      )
    )
  })

export interface Chaos {
  readonly kills: () => number
  readonly stop: Effect.Effect<void>
}

/**
 * Every 50-200 ms, SIGKILLs one worker picked at random among those ready
 * (a worker still starting is left alone: the point is to lose work, not to
 * fail starts). A pid is killed once: a worker killed a moment ago may still
 * show as ready until the pool has seen it exit, and a second signal to it
 * (a zombie takes signals) would count a kill that costs no restart.
 */
export const startChaos = (pool: Pool.Service) =>
  Effect.gen(function* () {
    let kills = 0
    const killed = new Set<number>()
    const fiber = yield* Effect.forkChild(
      Effect.forever(
        Effect.gen(function* () {
          yield* Effect.sleep(50 + Math.floor(Math.random() * 151))
          const { workers } = yield* pool.stats
          const ready = workers.filter(
            (worker) => worker.state === "ready" && worker.pid > 0 && !killed.has(worker.pid)
          )
          const victim = ready[Math.floor(Math.random() * ready.length)]
          if (victim === undefined) return
          try {
            process.kill(victim.pid, "SIGKILL")
            killed.add(victim.pid)
            kills++
          } catch {
            // It ended on its own first.
          }
        })
      )
    )
    return { kills: () => kills, stop: Fiber.interrupt(fiber) } satisfies Chaos
  })

/**
 * Pool options for chaos. The kills come from outside, so the restart intensity allows them and the backoff
 * stays short. Each worker runs 8 tasks at once (the tasks wait on a timer), so a kill may cut 8 tasks short
 * and the workers that are up carry the load while the others restart.
 */
export const chaosPoolOptions = {
  size: 4,
  concurrency: 8,
  tasks: [Work],
  intensity: 10_000,
  period: "10 seconds",
  backoff: { min: "5 millis", max: "100 millis", randomFactor: 0.2 }
} satisfies Pool.Options

/** A full garbage collection; the suite runs with `--expose-gc` (see vitest.config.ts), so a heap check is real. */
export const collectGarbage = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("heap checks need --expose-gc (reliability/vitest.config.ts passes it)")
  gc()
}

/** The parent's heap after full collections and a few turns of the event loop. */
export const settledHeap = Effect.promise(async () => {
  for (let round = 0; round < 3; round++) {
    collectGarbage()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
})

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
