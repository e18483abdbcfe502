/**
 * A barrier the parent hosts for every process below it: Python's
 * `multiprocessing.Barrier`. A fixed number of parties each call `wait`;
 * the last to arrive releases them all, and the barrier is ready for the
 * next round.
 *
 * `make(parties)` creates it in the parent, inside a `Scope`; `schema` is
 * its Schema, to pass it to a child in a task's payload or an actor's
 * message. `wait` succeeds with the party's arrival index in its round
 * (`0` for the first, `parties - 1` for the one that released the others),
 * as Python's `wait` does.
 *
 * Crash semantic: when a waiting party's process dies, or its wait is
 * interrupted, the barrier breaks: every party waiting fails with a typed
 * `BrokenBarrier` (Python's `BrokenBarrierError`) instead of waiting forever
 * for a party that will never come, and every later `wait` fails the same
 * way until `reset`. `abort` breaks it on purpose.
 *
 * A bound on a wait is its `timeout` option, Python's `wait(timeout)`: the
 * parent decides, so the round passes for every party or the barrier breaks
 * for every party, the one whose time ran out included. An interruption
 * from outside (`Effect.timeout`, a race) breaks the barrier only if it
 * reaches the parent before the round passes; if the last party arrived
 * first, the others pass and the interrupted party does not learn it.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { refuse } from "./internal/options.ts"
import { BrokenBarrier } from "./TroupeError.ts"

const TypeId = "~@troupe/core/IpcBarrier" as const

const BarrierService = Channel.make("troupe/IpcBarrier", {
  /** The payload is the wait's timeout in milliseconds, `null` for none. */
  Wait: { payload: Schema.NullOr(Schema.Number), success: Schema.Number, error: BrokenBarrier },
  Abort: {},
  Reset: {},
  Broken: { success: Schema.Boolean },
  Parties: { success: Schema.Number },
  Waiting: { success: Schema.Number }
})

/**
 * A barrier hosted by the parent, usable from any process it was passed to.
 *
 * @since 0.1.0
 * @category models
 */
export interface IpcBarrier {
  readonly [TypeId]: typeof TypeId
  /** The hosted service behind the barrier: what travels to other processes. */
  readonly handle: Channel.Handle<Channel.Any>
}

const wrap = (handle: Channel.Handle<Channel.Any>): IpcBarrier => ({ [TypeId]: TypeId, handle })

const handleOf = (barrier: IpcBarrier) => barrier.handle as Channel.Handle<typeof BarrierService>

/**
 * Whether `u` is an `IpcBarrier`.
 *
 * @example
 * ```ts
 * import { IpcBarrier } from "@troupe/core"
 *
 * IpcBarrier.isIpcBarrier({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isIpcBarrier = (u: unknown): u is IpcBarrier => typeof u === "object" && u !== null && TypeId in u

/**
 * The Schema of a barrier, to pass it to a child in a task's payload or an
 * actor's message.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcBarrier, Task } from "@troupe/core"
 *
 * export const Phase = Task.make("Phase", {
 *   payload: { barrier: IpcBarrier.schema },
 *   success: Schema.Number,
 *   handler: ({ barrier }) => IpcBarrier.wait(barrier).pipe(Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Codec<IpcBarrier, Channel.HandleEncoded> = Hosted.handleSchema({
  service: BarrierService,
  is: isIpcBarrier,
  wrap,
  unwrap: handleOf
})

interface Round {
  arrived: number
  passed: boolean
  readonly released: Deferred.Deferred<void, BrokenBarrier>
}

/**
 * Creates a barrier for `parties` parties in this process, hosted until the
 * scope closes (waiting calls then fail with `ChannelError`, and so do
 * later calls). `parties` is a positive integer: anything else is a defect,
 * an `InvalidOption`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcBarrier } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const barrier = yield* IpcBarrier.make(1)
 *   return yield* IpcBarrier.wait(barrier) // 0: one party releases itself
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (parties: number): Effect.Effect<IpcBarrier, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (!Number.isSafeInteger(parties) || parties < 1) {
      return Effect.die(refuse("parties", "must be a positive integer", parties))
    }
    const size = parties
    const fresh = (): Round => ({ arrived: 0, passed: false, released: Deferred.makeUnsafe() })
    let round = fresh()
    let broken: BrokenBarrier | undefined
    // Fails every party waiting in this round and starts a new one; `keepBroken` says whether later waits fail too.
    const breakRound = (reason: BrokenBarrier["reason"], message: string, keepBroken: boolean) => {
      const error = new BrokenBarrier({ reason, message })
      const waiting = round
      round = fresh()
      broken = keepBroken ? error : undefined
      Deferred.doneUnsafe(waiting.released, Exit.fail(error))
    }
    return Channel.serve(BarrierService, {
      Wait: (timeoutMillis) =>
        Effect.suspend(() => {
          if (broken !== undefined) return Effect.fail(broken)
          const mine = round
          const index = mine.arrived++
          if (mine.arrived === size) {
            mine.passed = true
            round = fresh()
            Deferred.doneUnsafe(mine.released, Exit.void)
            return Effect.succeed(index)
          }
          const released = Deferred.await(mine.released)
          const bounded =
            timeoutMillis === null
              ? released
              : released.pipe(
                  Effect.timeoutOption(timeoutMillis),
                  Effect.flatMap((passed) => {
                    // Decided here, for every party at once: a round still open when the time is up breaks.
                    if (Option.isNone(passed) && round === mine) {
                      breakRound("Timeout", "a party's wait timed out before the round passed", true)
                    }
                    // The round's outcome, whichever came first: passed for all, or broken for all.
                    return released
                  })
                )
          return bounded.pipe(
            Effect.as(index),
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                // A party that will never arrive: the others would wait forever, so they fail now.
                if (round === mine && !mine.passed)
                  breakRound(
                    "PartyGone",
                    "a party waiting at the barrier was interrupted, or its process is gone",
                    true
                  )
              })
            )
          )
        }),
      Abort: () => Effect.sync(() => breakRound("Aborted", "the barrier was aborted", true)),
      Reset: () =>
        Effect.sync(() => {
          if (round.arrived > 0) breakRound("Reset", "the barrier was reset while parties waited", false)
          broken = undefined
        }),
      Broken: () => Effect.sync(() => broken !== undefined),
      Parties: () => Effect.succeed(size),
      Waiting: () => Effect.sync(() => (broken === undefined ? round.arrived : 0))
    }).pipe(Effect.map(wrap))
  })

/**
 * Waits until `parties` parties (this one included) wait, then succeeds
 * with this party's arrival index in the round (`0` to `parties - 1`; the
 * last to arrive gets `parties - 1`). Fails with `BrokenBarrier` when the
 * barrier is or becomes broken.
 *
 * With a `timeout` (Python's `wait(timeout)`), the parent breaks the barrier
 * if the round has not passed when it runs out: this wait and every other
 * one in the round fail with `BrokenBarrier` `"Timeout"`. The parent decides
 * for all, so the parties never disagree, which `Effect.timeout` around the
 * wait cannot promise: an interruption that reaches the parent after the
 * round passed leaves the others passed and the barrier whole. A timeout
 * that is not a duration of zero or more is an `InvalidOption` defect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * const step = Effect.gen(function*() {
 *   const index = yield* IpcBarrier.wait(barrier)
 *   if (index === 0) yield* Effect.log("first to arrive")
 * })
 * // Every party passes within 5 seconds, or every party fails with BrokenBarrier "Timeout".
 * const bounded = IpcBarrier.wait(barrier, { timeout: "5 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category waiting
 */
export const wait = (
  barrier: IpcBarrier,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.Effect<number, BrokenBarrier | Channel.CallError> =>
  Hosted.withTimeout(options?.timeout, (millis) => Channel.call(handleOf(barrier), "Wait", millis))

/**
 * Breaks the barrier: every party waiting fails with `BrokenBarrier`, and
 * so does every later `wait` until `reset`.
 *
 * @example
 * ```ts
 * import { IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * const program = IpcBarrier.abort(barrier)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const abort = (barrier: IpcBarrier): Effect.Effect<void, Channel.CallError> =>
  Channel.call(handleOf(barrier), "Abort", undefined)

/**
 * Returns the barrier to its first state: parties waiting fail with
 * `BrokenBarrier`, and a broken barrier can be waited on again.
 *
 * @example
 * ```ts
 * import { IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * const program = IpcBarrier.reset(barrier)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const reset = (barrier: IpcBarrier): Effect.Effect<void, Channel.CallError> =>
  Channel.call(handleOf(barrier), "Reset", undefined)

/**
 * Whether the barrier is broken.
 *
 * @example
 * ```ts
 * import { IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * const isBroken = IpcBarrier.broken(barrier)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const broken = (barrier: IpcBarrier): Effect.Effect<boolean, Channel.CallError> =>
  Channel.call(handleOf(barrier), "Broken", undefined)

/**
 * The number of parties needed to pass the barrier.
 *
 * @example
 * ```ts
 * import { IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * const parties = IpcBarrier.parties(barrier)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const parties = (barrier: IpcBarrier): Effect.Effect<number, Channel.CallError> =>
  Channel.call(handleOf(barrier), "Parties", undefined)

/**
 * The number of parties waiting in the current round (Python's
 * `n_waiting`).
 *
 * @example
 * ```ts
 * import { IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * const waiting = IpcBarrier.waiting(barrier)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const waiting = (barrier: IpcBarrier): Effect.Effect<number, Channel.CallError> =>
  Channel.call(handleOf(barrier), "Waiting", undefined)
