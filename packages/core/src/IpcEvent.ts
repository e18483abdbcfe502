/**
 * A flag the parent hosts for every process below it, that processes wait
 * on: Python's `multiprocessing.Event`.
 *
 * `make` creates it in the parent, inside a `Scope`, cleared; `schema` is its
 * Schema, to pass it to a child in a task's payload or an actor's message.
 * `set` wakes every process waiting in `wait` (and later waits return at
 * once) until `clear`. `wait` takes an optional timeout and, as in Python,
 * succeeds with the flag: `false` only when the timeout passed first.
 *
 * A waiting process that dies, or whose wait is interrupted, leaves nothing
 * behind: its wait is interrupted in the parent too.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"

const TypeId = "~@troupe/core/IpcEvent" as const

const EventService = Channel.make("troupe/IpcEvent", {
  Set: {},
  Clear: {},
  IsSet: { success: Schema.Boolean },
  Wait: { payload: Schema.NullOr(Schema.Number), success: Schema.Boolean }
})

/**
 * An event hosted by the parent, usable from any process it was passed to.
 *
 * @since 0.1.0
 * @category models
 */
export interface IpcEvent {
  readonly [TypeId]: typeof TypeId
  /** The hosted service behind the event: what travels to other processes. */
  readonly handle: Channel.Handle<Channel.Any>
}

const wrap = (handle: Channel.Handle<Channel.Any>): IpcEvent => ({ [TypeId]: TypeId, handle })

const handleOf = (event: IpcEvent) => event.handle as Channel.Handle<typeof EventService>

/**
 * Whether `u` is an `IpcEvent`.
 *
 * @example
 * ```ts
 * import { IpcEvent } from "@troupe/core"
 *
 * IpcEvent.isIpcEvent({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isIpcEvent = (u: unknown): u is IpcEvent => typeof u === "object" && u !== null && TypeId in u

/**
 * The Schema of an event, to pass it to a child in a task's payload or an
 * actor's message.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcEvent, Task } from "@troupe/core"
 *
 * export const WaitForGo = Task.make("WaitForGo", {
 *   payload: { go: IpcEvent.schema },
 *   handler: ({ go }) => IpcEvent.wait(go).pipe(Effect.asVoid, Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Codec<IpcEvent, Channel.HandleEncoded> = Hosted.handleSchema({
  service: EventService,
  is: isIpcEvent,
  wrap,
  unwrap: handleOf
})

/**
 * Creates a cleared event in this process, hosted until the scope closes
 * (waiting calls then fail with `ChannelError`, and so do later calls).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcEvent } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const ready = yield* IpcEvent.make
 *   yield* IpcEvent.set(ready)
 *   return yield* IpcEvent.wait(ready) // true at once
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<IpcEvent, never, Scope.Scope> = Effect.suspend(() => {
  const flag = Latch.makeUnsafe(false)
  return Channel.serve(EventService, {
    Set: () => Effect.asVoid(flag.open),
    Clear: () => Effect.asVoid(flag.close),
    IsSet: () => Effect.sync(() => flag.isOpen()),
    Wait: (timeoutMillis) =>
      timeoutMillis === null
        ? Effect.as(flag.await, true)
        : flag.await.pipe(Effect.timeoutOption(Duration.millis(timeoutMillis)), Effect.map(Option.isSome))
  }).pipe(Effect.map(wrap))
})

/**
 * Sets the flag: every process waiting wakes, and later waits return at
 * once until `clear`.
 *
 * @example
 * ```ts
 * import { IpcEvent } from "@troupe/core"
 *
 * declare const ready: IpcEvent.IpcEvent
 * const program = IpcEvent.set(ready)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const set = (event: IpcEvent): Effect.Effect<void, Channel.CallError> =>
  Channel.call(handleOf(event), "Set", undefined)

/**
 * Clears the flag: later waits wait for the next `set`.
 *
 * @example
 * ```ts
 * import { IpcEvent } from "@troupe/core"
 *
 * declare const ready: IpcEvent.IpcEvent
 * const program = IpcEvent.clear(ready)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const clear = (event: IpcEvent): Effect.Effect<void, Channel.CallError> =>
  Channel.call(handleOf(event), "Clear", undefined)

/**
 * Whether the flag is set.
 *
 * @example
 * ```ts
 * import { IpcEvent } from "@troupe/core"
 *
 * declare const ready: IpcEvent.IpcEvent
 * const flag = IpcEvent.isSet(ready)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const isSet = (event: IpcEvent): Effect.Effect<boolean, Channel.CallError> =>
  Channel.call(handleOf(event), "IsSet", undefined)

/**
 * Waits until the flag is set, and succeeds with `true`; with a `timeout`,
 * succeeds with `false` if it passes first (Python's `Event.wait`). The
 * timeout runs in the parent, so the answer is the parent's. A timeout that
 * is not a duration of zero or more is an `InvalidOption` defect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcEvent } from "@troupe/core"
 *
 * declare const ready: IpcEvent.IpcEvent
 * const program = Effect.gen(function*() {
 *   const wasSet = yield* IpcEvent.wait(ready, { timeout: "1 second" })
 *   if (!wasSet) yield* Effect.log("not ready after a second")
 * })
 * ```
 *
 * @since 0.1.0
 * @category waiting
 */
export const wait = (
  event: IpcEvent,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.Effect<boolean, Channel.CallError> =>
  Hosted.withTimeout(options?.timeout, (millis) => Channel.call(handleOf(event), "Wait", millis))
