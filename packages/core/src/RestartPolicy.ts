/**
 * When to restart a failed child, how long to wait first, and when to give up.
 *
 * Two classic rules, as pure logic that a process pool and (later) OTP-style
 * supervisors share:
 *
 * - **Restart intensity** (Erlang/OTP `supervisor`): at most `maxRestarts`
 *   restarts within any sliding window of `period`. One more and the restarter
 *   gives up, instead of crash-looping forever. `addRestart` is OTP's
 *   `add_restart/3`, in milliseconds.
 * - **Exponential backoff** (Akka `BackoffSupervisor`): the n-th consecutive
 *   restart waits `min(max, min * 2^n) * (1 + random * randomFactor)`, and the
 *   count starts again from zero once the child stayed up for `resetAfter`.
 *   `backoffDelay` is that formula; `backoffSchedule` is the same delays as an
 *   Effect `Schedule`.
 *
 * `makeRestarter` is the one restart core of pools, supervision trees and
 * keyed groups: both rules, one definition of a stable run, and Akka's
 * `maxRestarts` and manual reset. It reads time from Effect's `Clock`
 * (monotonic) and randomness from Effect's `Random`, so tests drive it with
 * `TestClock` and a fixed `Random`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"

// -----------------------------------------------------------------------------
// Restart intensity
// -----------------------------------------------------------------------------

/**
 * A validated restart intensity: at most `maxRestarts` restarts within any
 * window of `periodMs` milliseconds. Build it with `intensity`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Intensity {
  readonly maxRestarts: number
  readonly periodMs: number
}

const toMillisChecked = (what: string, input: Duration.Input): number => {
  const millis = typeof input === "number" && Number.isNaN(input) ? Number.NaN : tryToMillis(input)
  if (Number.isNaN(millis)) throw new Error(`${what}: ${String(input)} is not a valid duration`)
  return millis
}

const tryToMillis = (input: Duration.Input): number => {
  try {
    return Duration.toMillis(input)
  } catch {
    return Number.NaN
  }
}

/**
 * Validates and builds a restart intensity.
 *
 * **Details**
 *
 * `maxRestarts` must be an integer `>= 0` (0 means the first restart already
 * exceeds it, as in OTP) and `period` a duration `> 0` (`"Infinity"` counts
 * every restart ever made). Throws an `Error` that says what is wrong
 * otherwise: a bad intensity is a programming error, found when the pool or
 * supervisor is built, not at the first crash.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@troupe/core"
 *
 * // OTP's default: at most 1 restart within 5 seconds
 * const otp = RestartPolicy.intensity(1, "5 seconds")
 * // otp.periodMs === 5000
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const intensity = (maxRestarts: number, period: Duration.Input): Intensity => {
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new Error(`RestartPolicy.intensity: maxRestarts must be an integer >= 0, got ${maxRestarts}`)
  }
  const periodMs = toMillisChecked("RestartPolicy.intensity: period", period)
  if (!(periodMs > 0)) {
    throw new Error(`RestartPolicy.intensity: period must be greater than zero, got ${periodMs} ms`)
  }
  return { maxRestarts, periodMs }
}

/**
 * Records a restart at `now` (milliseconds) in a restart history, exactly as
 * OTP's `supervisor:add_restart/3` does.
 *
 * **Details**
 *
 * Keeps the earlier restart times `R` with `R >= now - periodMs`, appends
 * `now`, and reports `exceeded` when the kept list holds more than
 * `maxRestarts` entries. The history is oldest first and is never mutated;
 * store the returned one. No validation happens here: build the intensity
 * with `intensity`.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@troupe/core"
 *
 * const limit = RestartPolicy.intensity(2, "1 hour")
 * let history: ReadonlyArray<number> = []
 * for (const now of [0, 10, 20]) {
 *   const step = RestartPolicy.addRestart(history, now, limit)
 *   history = step.history
 *   // exceeded: false, false, true (the 3rd restart within the hour)
 * }
 * ```
 *
 * @since 0.1.0
 * @category intensity
 */
export const addRestart = (
  history: ReadonlyArray<number>,
  now: number,
  intensity: { readonly maxRestarts: number; readonly periodMs: number }
): { readonly history: ReadonlyArray<number>; readonly exceeded: boolean } => {
  const threshold = now - intensity.periodMs
  const kept: Array<number> = []
  for (const restart of history) {
    if (restart >= threshold) kept.push(restart)
  }
  kept.push(now)
  return { history: kept, exceeded: kept.length > intensity.maxRestarts }
}

// -----------------------------------------------------------------------------
// Backoff
// -----------------------------------------------------------------------------

/**
 * Exponential backoff between restarts, as in Akka's `BackoffSupervisor`.
 *
 * - `min`: the first delay.
 * - `max`: the delay never grows past it (before the random factor).
 * - `randomFactor`: `>= 0`; each delay is stretched by up to this fraction
 *   (0.2 adds 0–20 %), so that children crashing together do not restart in
 *   lock-step.
 *
 * @since 0.1.0
 * @category models
 */
export interface BackoffOptions {
  readonly min: Duration.Input
  readonly max: Duration.Input
  readonly randomFactor: number
}

interface ResolvedBackoff {
  readonly minMs: number
  readonly maxMs: number
  readonly randomFactor: number
}

const resolveBackoff = (where: string, options: BackoffOptions): ResolvedBackoff => {
  const minMs = toMillisChecked(`${where}: backoff min`, options.min)
  const maxMs = toMillisChecked(`${where}: backoff max`, options.max)
  if (!(minMs >= 0) || !Number.isFinite(minMs)) {
    throw new Error(`${where}: backoff min must be a finite duration >= 0, got ${minMs} ms`)
  }
  if (!Number.isFinite(maxMs) || maxMs < minMs) {
    throw new Error(`${where}: backoff max must be finite and >= min (${minMs} ms), got ${maxMs} ms`)
  }
  if (!Number.isFinite(options.randomFactor) || options.randomFactor < 0) {
    throw new Error(`${where}: backoff randomFactor must be a finite number >= 0, got ${options.randomFactor}`)
  }
  return { minMs, maxMs, randomFactor: options.randomFactor }
}

const delayMillis = (n: number, backoff: ResolvedBackoff, random: number): number => {
  const base = n >= 30 ? backoff.maxMs : Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.max(0, n))
  return base * (1 + random * backoff.randomFactor)
}

/**
 * The delay before restart number `n` (0 for the first restart after a run of
 * failures), Akka's formula.
 *
 * **Details**
 *
 * `min(max, min * 2^n) * (1 + random * randomFactor)`, where `random` is in
 * `[0, 1)`. From `n = 30` on the base is `max` (then the random factor still
 * applies), so huge `n` never overflow. Negative `n` count as 0. Throws an
 * `Error` when `min` is negative, `max` is infinite or below `min`, or
 * `randomFactor` is negative.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { RestartPolicy } from "@troupe/core"
 *
 * const options = { min: "100 millis", max: "1 second", randomFactor: 0 } as const
 * const delays = [0, 1, 2, 3, 4, 5].map((n) => Duration.toMillis(RestartPolicy.backoffDelay(n, options, 0)))
 * // [100, 200, 400, 800, 1000, 1000]
 * ```
 *
 * @since 0.1.0
 * @category backoff
 */
export const backoffDelay = (n: number, options: BackoffOptions, random: number): Duration.Duration =>
  Duration.millis(delayMillis(n, resolveBackoff("RestartPolicy.backoffDelay", options), random))

/**
 * The backoff delays as an Effect `Schedule`, for `Effect.retry` or
 * `Effect.repeat`.
 *
 * **Details**
 *
 * Recurs forever; recurrence `k` (1-based) waits `backoffDelay(k - 1)`, with
 * the random number taken from Effect's `Random` service, and outputs that
 * delay. With `randomFactor: 0` the delays equal `backoffDelay` exactly. Bound
 * it with `Schedule.upTo` or `Effect.retry({ times })`. Throws an `Error` on
 * invalid options, like `backoffDelay`.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { RestartPolicy } from "@troupe/core"
 *
 * declare const connect: Effect.Effect<void, Error>
 *
 * const connected = connect.pipe(
 *   Effect.retry(
 *     RestartPolicy.backoffSchedule({ min: "50 millis", max: "5 seconds", randomFactor: 0.2 }).pipe(
 *       Schedule.upTo({ times: 10 })
 *     )
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category backoff
 */
export const backoffSchedule = (options: BackoffOptions): Schedule.Schedule<Duration.Duration> => {
  const backoff = resolveBackoff("RestartPolicy.backoffSchedule", options)
  return Schedule.fromStepWithMetadata(
    Effect.succeed((meta: Schedule.InputMetadata<unknown>) =>
      Effect.map(Random.next, (random): [Duration.Duration, Duration.Duration] => {
        const delay = Duration.millis(delayMillis(meta.attempt - 1, backoff, random))
        return [delay, delay]
      })
    )
  )
}

// -----------------------------------------------------------------------------
// The restart core
// -----------------------------------------------------------------------------

/**
 * Backoff between restarts, with Akka's two limits:
 *
 * - `resetAfter`: a child that ran this long since its last start had a
 *   stable run, and its next failure backs off from `min` again (default
 *   `(min + max) / 2`, as in current Akka). A start that fails is never a
 *   stable run.
 * - `maxRestarts`: consecutive failure number `maxRestarts + 1` gives up,
 *   as when the intensity is exceeded (absent or 0: no limit).
 *
 * @since 0.1.0
 * @category models
 */
export interface Backoff extends BackoffOptions {
  readonly resetAfter?: Duration.Input | undefined
  readonly maxRestarts?: number | undefined
}

/**
 * How a pool, a supervision tree or a keyed group restarts what fails: the
 * same shape on all three.
 *
 * - `intensity` restarts at most within `period` (OTP's sliding window,
 *   shared by every child of the one supervisor);
 * - `backoff`: the delay before each restart of one child (Akka's); absent,
 *   a child restarts at once, as in OTP.
 *
 * @since 0.1.0
 * @category models
 */
export interface RestartOptions {
  readonly intensity: number
  readonly period: Duration.Input
  readonly backoff?: Backoff | undefined
}

/**
 * Restart after `delay`. `attempt` is the child's run of consecutive
 * failures so far, this one included (1 for the first failure after a stable
 * run); `delay` is `backoffDelay(attempt - 1)`, or zero without a backoff.
 *
 * @since 0.1.0
 * @category models
 */
export interface Restart {
  readonly _tag: "Restart"
  readonly delay: Duration.Duration
  readonly attempt: number
}

/**
 * Do not restart any more.
 *
 * - `reason: "intensity"`: this failure was restart number `restarts`
 *   within `period`, more than `intensity` allows;
 * - `reason: "maxRestarts"`: this was consecutive failure number
 *   `consecutive` of one child, more than `backoff.maxRestarts` allows.
 *
 * @since 0.1.0
 * @category models
 */
export interface GiveUp {
  readonly _tag: "GiveUp"
  readonly reason: "intensity" | "maxRestarts"
  readonly restarts: number
  readonly period: Duration.Duration
  readonly consecutive: number
}

/**
 * What to do after a failure: `Restart` after a delay, or `GiveUp`.
 *
 * @since 0.1.0
 * @category models
 */
export type RestartDecision = Restart | GiveUp

/**
 * The restart bookkeeping of one child of a `Restarter`.
 *
 * - `started`: a start succeeded; the child's run begins now.
 * - `failed`: the child failed (it ended and must restart, or a start
 *   failed: `startFailed`); records the restart in the supervisor's window
 *   and decides. `ranMs` gives the run's length when the caller measured it
 *   (otherwise the time since `started`; without a `started` since the last
 *   failure there was no run).
 * - `healthy`: the child says it is healthy (Akka's manual reset): its next
 *   failure backs off from `min` again. The intensity window is kept: OTP
 *   counts every restart.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildRestarts {
  readonly started: Effect.Effect<void>
  readonly failed: (ending?: {
    readonly startFailed?: boolean | undefined
    readonly ranMs?: number | undefined
  }) => Effect.Effect<RestartDecision>
  readonly healthy: Effect.Effect<void>
}

/**
 * The restart bookkeeping of one supervisor (a pool, a tree node, a keyed
 * group): the intensity window its children share, and a `ChildRestarts`
 * for each child.
 *
 * @since 0.1.0
 * @category models
 */
export interface Restarter {
  readonly intensity: Intensity
  readonly child: () => ChildRestarts
}

const nowMillis = (fiber: Fiber.Fiber<unknown, unknown>): number =>
  Number(fiber.getRef(Clock.Clock).monotonicTimeNanosUnsafe()) / 1_000_000

/**
 * The one restart core of Troupe, used by pools, supervision trees and keyed
 * groups.
 *
 * **Details**
 *
 * On each `failed`, at time `now` from `Clock` (monotonic, in ms):
 *
 * 1. The restart is recorded in the supervisor's window with `addRestart`;
 *    over the intensity it is `GiveUp` with `reason: "intensity"`. The
 *    intensity is checked first, backoff or not.
 * 2. Without a backoff: `Restart` at once.
 * 3. A child that ran `resetAfter` since its last start had a stable run:
 *    its run of consecutive failures starts again (never after a failed
 *    start, nor a run cut short).
 * 4. Over `backoff.maxRestarts` consecutive failures it is `GiveUp` with
 *    `reason: "maxRestarts"`.
 * 5. Otherwise `Restart` after `backoffDelay(consecutive - 1)`, the random
 *    number taken from `Random`.
 *
 * State is updated synchronously inside each effect, so fibers may share one
 * restarter. Throws an `Error` on invalid options (see `intensity` and
 * `backoffDelay`; `resetAfter` must be `>= 0`, `maxRestarts` an integer
 * `>= 0`): a programming error, found when the restarter is built.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RestartPolicy } from "@troupe/core"
 *
 * const restarter = RestartPolicy.makeRestarter({
 *   intensity: 5,
 *   period: "10 seconds",
 *   backoff: { min: "100 millis", max: "5 seconds", randomFactor: 0.2, maxRestarts: 10 }
 * })
 * const worker = restarter.child()
 *
 * declare const startWorker: Effect.Effect<void, Error>
 *
 * const afterACrash = Effect.gen(function*() {
 *   const decision = yield* worker.failed()
 *   if (decision._tag === "GiveUp") return yield* Effect.fail(new Error(`gave up: ${decision.reason}`))
 *   yield* Effect.sleep(decision.delay)
 *   yield* startWorker
 *   yield* worker.started
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRestarter = (options: RestartOptions): Restarter => {
  const where = "RestartPolicy.makeRestarter"
  const limit = intensity(options.intensity, options.period)
  const period = Duration.millis(limit.periodMs)
  const backoff = options.backoff === undefined ? undefined : resolveBackoff(where, options.backoff)
  const resetAfterMs =
    backoff === undefined || options.backoff?.resetAfter === undefined
      ? backoff === undefined
        ? 0
        : (backoff.minMs + backoff.maxMs) / 2
      : toMillisChecked(`${where}: resetAfter`, options.backoff.resetAfter)
  if (!(resetAfterMs >= 0)) throw new Error(`${where}: resetAfter must be a duration >= 0, got ${resetAfterMs} ms`)
  const maxRestarts = options.backoff?.maxRestarts ?? 0
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new Error(`${where}: backoff maxRestarts must be an integer >= 0, got ${maxRestarts}`)
  }
  let history: ReadonlyArray<number> = []

  const child = (): ChildRestarts => {
    let consecutive = 0
    let startedAt: number | undefined

    const failed: ChildRestarts["failed"] = (ending) =>
      Effect.withFiberSucceed((fiber): RestartDecision => {
        const now = nowMillis(fiber)
        // No run at all (a failed start, or no start since the last failure) is never a stable one, not even
        // with `resetAfter: 0`: the run of failures goes on, so `maxRestarts` still gives up.
        const ranMs =
          ending?.startFailed === true
            ? undefined
            : (ending?.ranMs ?? (startedAt === undefined ? undefined : now - startedAt))
        startedAt = undefined
        const step = addRestart(history, now, limit)
        history = step.history
        if (backoff !== undefined && ranMs !== undefined && ranMs >= resetAfterMs) consecutive = 0
        consecutive += 1
        const giveUp = (reason: GiveUp["reason"]): GiveUp => ({
          _tag: "GiveUp",
          reason,
          restarts: step.history.length,
          period,
          consecutive
        })
        if (step.exceeded) return giveUp("intensity")
        if (backoff === undefined) return { _tag: "Restart", delay: Duration.zero, attempt: consecutive }
        if (maxRestarts > 0 && consecutive > maxRestarts) return giveUp("maxRestarts")
        const random = fiber.getRef(Random.Random).nextDoubleUnsafe()
        return {
          _tag: "Restart",
          delay: Duration.millis(delayMillis(consecutive - 1, backoff, random)),
          attempt: consecutive
        }
      })

    return {
      started: Effect.withFiberSucceed((fiber) => {
        startedAt = nowMillis(fiber)
      }),
      failed,
      healthy: Effect.sync(() => {
        consecutive = 0
      })
    }
  }

  return { intensity: limit, child }
}

// -----------------------------------------------------------------------------
// Defaults
// -----------------------------------------------------------------------------

const defaultBackoff: Backoff = {
  min: Duration.millis(5),
  max: Duration.seconds(1),
  randomFactor: 0.2
}

/**
 * Restart defaults for a process pool of `size` workers: at most `2 * size`
 * restarts within 10 seconds; backoff from 5 ms to 1 s with a random factor
 * of 0.2.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@troupe/core"
 *
 * const restarter = RestartPolicy.makeRestarter(RestartPolicy.poolDefaults(4))
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const poolDefaults = (size: number): RestartOptions => ({
  intensity: 2 * size,
  period: Duration.seconds(10),
  backoff: defaultBackoff
})

/**
 * Restart defaults for a supervisor, as in OTP: at most 1 restart within 5
 * seconds, and no backoff (a child restarts at once).
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@troupe/core"
 *
 * const restarter = RestartPolicy.makeRestarter(RestartPolicy.supervisorDefaults)
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const supervisorDefaults: RestartOptions = {
  intensity: 1,
  period: Duration.seconds(5)
}
