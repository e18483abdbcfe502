/**
 * The time a pool, a supervisor or an actor reads and waits on: Effect's
 * `Clock`, captured once from the context the owner was made in, read
 * synchronously on the hot path (as Effect's own `Pool` reads its clock).
 *
 * Under a `TestClock` every reading and every timer follows the test's
 * clock: `TestClock.adjust` fires the timers that fall due, in order, so the
 * dispatcher, the slots, supervision and the actor cells can be tested in
 * memory without real time passing. Under the live clock the readings and
 * timers are the host's own (`performance.now()`, `Date.now()`,
 * `setTimeout`), which is what the live clock reads and sleeps on: no
 * allocation or fiber per timer, so a task costs what it did before.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/** A pending timer: pass it to `cancel`. */
export type Timer = unknown

export interface TimeSource {
  /** Milliseconds on a monotonic scale with an arbitrary origin: only for durations (differences of two readings). */
  readonly monotonicMillis: () => number
  /** Wall-clock time in milliseconds since the epoch: for the `at` of events. */
  readonly wallMillis: () => number
  /**
   * Calls `f` once `millis` have passed on the clock. `background`: the
   * timer does not keep the program alive (Node's `unref`).
   */
  readonly after: (millis: number, f: () => void, background?: boolean) => Timer
  /** Stops a timer that has not fired (a no-op once it has). */
  readonly cancel: (timer: Timer) => void
  /** Runs `effect` in the background with this clock (a stop escalation's graces follow a test clock too). */
  readonly fork: (effect: Effect.Effect<void>) => void
  /** Whether this is Effect's live clock (the host's timers), not a test clock. */
  readonly live: boolean
}

/** The host's time, which Effect's default `Clock` reads and sleeps on. */
export const live: TimeSource = {
  // Bound rather than wrapped: read several times per task, and one frame less each time.
  monotonicMillis: performance.now.bind(performance),
  wallMillis: () => Date.now(),
  after: (millis, f, background) => {
    const timer = setTimeout(f, millis)
    if (background === true) (timer as { unref?: () => void }).unref?.()
    return timer
  },
  cancel: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
  fork: (effect) => void Effect.runFork(effect),
  live: true
}

const liveClock = Context.get(Context.empty(), Clock.Clock)

const nanosPerMilli = 1_000_000

/** The time of the `Clock` in `context`: the host's under the live clock, else the clock's own readings and sleeps. */
export const make = (context: Context.Context<never>): TimeSource => {
  const clock = Context.get(context, Clock.Clock)
  if (clock === liveClock) return live
  const run = Effect.runForkWith(context)
  return {
    monotonicMillis: () => Number(clock.monotonicTimeNanosUnsafe()) / nanosPerMilli,
    wallMillis: () => clock.currentTimeMillisUnsafe(),
    // A timer never fires inside the call that set it, as with `setTimeout(f, 0)`.
    after: (millis, f) =>
      run(Effect.andThen(millis > 0 ? clock.sleep(Duration.millis(millis)) : Effect.yieldNow, Effect.sync(f))),
    cancel: (timer) => (timer as Fiber.Fiber<void>).interruptUnsafe(),
    fork: (effect) => void run(effect),
    live: false
  }
}

/** The time of the `Clock` the current fiber sees. */
export const current: Effect.Effect<TimeSource> = Effect.map(Effect.context<never>(), make)
