/**
 * A bounded queue between processes (Python's `multiprocessing.Queue` and
 * `JoinableQueue`), typed by a Schema: many producers and many consumers,
 * in the parent, its children and their children.
 *
 * The parent makes the queue in a `Scope` (`make`) and hosts it; the queue
 * travels to a child inside a task's payload or an actor's message (its
 * Schema is `schema(item)`), and every process uses it with the same
 * functions: `offer` waits for room (backpressure across processes),
 * `take` waits for an item, `takeUpTo` takes what is there (at least one),
 * `shutdown` ends it. `stream` and `sink` adapt it to effect's `Stream` and
 * `Sink`. Items cross as their Schema's JSON encoding, like any payload.
 *
 * An item goes to exactly one taker. A `take` that waits and is interrupted,
 * or whose process dies while it waits, takes nothing; one interrupted while
 * the host's reply is on its way gives that reply's items back to the head of
 * the queue, so a take under a timeout loses nothing. An `offer` bounded by
 * its own `timeout` (Python's `put(timeout=...)`) fails with `QueueFull`
 * exactly when its item was not put.
 *
 * `taskDone` and `join` are `JoinableQueue`'s: `join` waits until every item
 * ever put was marked done. In an acknowledged queue
 * (`make({ acknowledged: true })`), `taskDone` is also the acknowledgement:
 * it acknowledges the oldest items the calling process took, and the items a
 * process took and did not acknowledge go back to the head of the queue when
 * that process dies (they are delivered again: the only case in which an
 * item is delivered twice). In the default mode the host forgets an item
 * once it is taken, and an item taken by a process that dies is lost, as in
 * Python: only a process death loses items.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { booleanOption, expected } from "./internal/options.ts"
import { Fifo } from "./internal/pool/fifo.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
import * as Session from "./Session.ts"
import { InvalidOption, QueueFull, QueueShutdown, QueueTaskDoneError } from "./TroupeError.ts"

const TypeId = "~@troupe/core/IpcQueue" as const

/**
 * A queue hosted by the process that made it, usable from any process it
 * was passed to.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const queue: IpcQueue.IpcQueue<string> = yield* IpcQueue.make({ item: Schema.String, capacity: 10 })
 *   yield* IpcQueue.offer(queue, "hello")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface IpcQueue<A> {
  readonly [TypeId]: { readonly _A: (_: A) => A }
  /** The channel handle of the service that hosts the queue. */
  readonly handle: Channel.Handle<Channel.Any>
}

/** How many items a take may bring: below 1 is taken as 1, `Infinity` as all there are; `NaN` is refused. */
const TakeMax = Schema.Number.check(Schema.makeFilter((n: number) => !Number.isNaN(n) || "a number of items, not NaN"))

const TakeRequest = Schema.Struct({
  session: Schema.String,
  /** The take's id, unique in the tree: what the host files the items under in an acknowledged queue. */
  take: Schema.String,
  max: TakeMax,
  wait: Schema.Boolean
})

/** The service of a queue of `item`s: one per item Schema, the same in every process. */
const serviceOf = Hosted.serviceMemo((item: Schema.Top) => {
  const items = Schema.Array(item)
  return Channel.make("troupe/IpcQueue", {
    Open: Session.openMethod,
    Offer: { payload: items, error: QueueShutdown },
    /** An offer bounded by `timeout` (milliseconds), which the host runs: at its end, what is not in stays out. */
    OfferWithin: {
      payload: Schema.Struct({ items, timeout: Schema.Number }),
      error: Schema.Union([QueueShutdown, QueueFull])
    },
    Take: { payload: TakeRequest, success: items, error: QueueShutdown },
    GiveBack: { payload: Schema.Struct({ session: Schema.String, take: Schema.String, count: Schema.Int, items }) },
    Size: { success: Schema.Number },
    Shutdown: {},
    TaskDone: { payload: Schema.Struct({ session: Schema.String, count: Schema.Int }), error: QueueTaskDoneError },
    Join: {}
  })
})

type QueueService = ReturnType<typeof serviceOf>

const variance = { _A: (a: any) => a }

const wrap = <A>(handle: Channel.Handle<QueueService>): IpcQueue<A> => ({ [TypeId]: variance, handle })

/**
 * Whether `u` is an `IpcQueue`.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * IpcQueue.isIpcQueue({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isIpcQueue = (u: unknown): u is IpcQueue<unknown> => typeof u === "object" && u !== null && TypeId in u

/**
 * The Schema of a queue of `item`s, to put it in a task's payload or an
 * actor's message. It travels as its channel handle.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcQueue, Task } from "@troupe/core"
 *
 * export const Produce = Task.make("Produce", {
 *   payload: { queue: IpcQueue.schema(Schema.Int), count: Schema.Int },
 *   handler: ({ count, queue }) =>
 *     Effect.forEach(Array.from({ length: count }, (_, i) => i), (n) => IpcQueue.offer(queue, n), { discard: true })
 *       .pipe(Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema = <S extends Schema.Top>(item: S): Schema.Codec<IpcQueue<S["Type"]>, Channel.HandleEncoded> =>
  Hosted.handleSchema({
    service: serviceOf(item),
    is: (u): u is IpcQueue<S["Type"]> => isIpcQueue(u) && u.handle.service === serviceOf(item),
    wrap: (handle) => wrap<S["Type"]>(handle),
    unwrap: (queue) => queue.handle as Channel.Handle<QueueService>
  })

/**
 * How a queue is made.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import type { IpcQueue } from "@troupe/core"
 *
 * const options: IpcQueue.Options<typeof Schema.Int> = { item: Schema.Int, capacity: 1000, acknowledged: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S extends Schema.Top> {
  /** The Schema of an item: items are encoded by it in the process that offers and decoded in the one that takes. */
  readonly item: S
  /** How many items the queue buffers before `offer` waits: a positive integer, or `Infinity`. */
  readonly capacity: number
  /**
   * Whether items taken by a process that dies before acknowledging them
   * (with `taskDone`) go back to the head of the queue. Default `false`.
   */
  readonly acknowledged?: boolean | undefined
}

/** An item taken in an acknowledged queue and not yet acknowledged. */
interface Held<A> {
  readonly take: string
  readonly item: A
}

/** A `take` waiting for an item. */
interface Taker<A> {
  readonly session: string
  readonly take: string
  readonly max: number
  readonly wake: Deferred.Deferred<void, QueueShutdown>
  /** The items it was given, once it was given them. */
  items: Array<A> | undefined
}

/** An `offer` waiting for room. */
interface Offerer<A> {
  readonly items: ReadonlyArray<A>
  /** How many of `items` are in the queue. */
  next: number
  readonly wake: Deferred.Deferred<void, QueueShutdown>
}

/**
 * Makes a queue hosted by this process until the scope closes. Calls still
 * waiting then (and later calls) fail with a `ChannelError` `ServiceClosed`.
 *
 * **Details**
 *
 * `capacity` bounds the items waiting in the queue; an `offer` beyond it
 * waits for a taker to make room. Items given back (by an acknowledged
 * queue, for a taker that died) go to the head of the queue even when that
 * puts it over its capacity for a while.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const queue = yield* IpcQueue.make({ item: Schema.String, capacity: 100 })
 *   yield* IpcQueue.offer(queue, "hello")
 *   return yield* IpcQueue.take(queue)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Schema.Top>(
  options: Options<S>
): Effect.Effect<IpcQueue<S["Type"]>, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (typeof options !== "object" || options === null) {
      return Effect.die(expected("IpcQueue.make", "options { item, capacity }", options))
    }
    if (!Schema.isSchema(options.item)) {
      return Effect.die(new InvalidOption({ option: "item", reason: "must be a Schema (the Schema of an item)" }))
    }
    const capacity = options.capacity
    if (!(capacity === Number.POSITIVE_INFINITY || (Number.isInteger(capacity) && capacity > 0))) {
      return Effect.die(new InvalidOption({ option: "capacity", reason: `${capacity} is not a positive integer` }))
    }
    const invalidFlag = booleanOption("acknowledged", options.acknowledged)
    if (invalidFlag !== undefined) return Effect.die(invalidFlag)
    type A = S["Type"]
    const acknowledged = options.acknowledged === true
    const sessions = Session.makeTable()
    const buffer = new Fifo<A>()
    const takers = new Fifo<Taker<A>>()
    const offerers = new Fifo<Offerer<A>>()
    /** Acknowledged queue: what each process took and has not acknowledged, oldest first. */
    const held = new Map<string, Array<Held<A>>>()
    let unfinished = 0
    let joined: Deferred.Deferred<void> | undefined
    let isShutdown = false

    const heldBy = (session: string): Array<Held<A>> => {
      let entries = held.get(session)
      if (entries === undefined) {
        const created: Array<Held<A>> = []
        entries = created
        held.set(session, created)
        sessions.onGone(session, () => {
          held.delete(session)
          buffer.pushFront(created.map((entry) => entry.item))
          settle()
        })
      }
      return entries
    }

    /** Takes up to `max` items for `session`'s take `take`, filing them in an acknowledged queue. */
    const takeFromBuffer = (session: string, take: string, max: number): Array<A> => {
      const items: Array<A> = []
      while (items.length < max && buffer.length > 0) items.push(buffer.shift() as A)
      if (acknowledged) {
        const entries = heldBy(session)
        for (const item of items) entries.push({ take, item })
      }
      return items
    }

    /** Puts back at the head what `session`'s take `take` holds (its last `count` items), in an acknowledged queue. */
    const giveBackHeld = (session: string, take: string, count: number) => {
      const entries = held.get(session)
      if (entries === undefined) return
      const back: Array<A> = []
      for (let i = entries.length - 1; i >= 0 && back.length < count; i--) {
        if (entries[i]!.take === take) {
          back.unshift(entries[i]!.item)
          entries.splice(i, 1)
        }
      }
      buffer.pushFront(back)
    }

    /**
     * The waiting offers and takes `settle` served, woken once the call being
     * handled is done: its reply goes out first (a producer's `offer` is
     * answered before the take it fed, which waits for a microtask).
     */
    let served: Array<Deferred.Deferred<void, QueueShutdown>> = []
    const wakeServed = () => {
      const waking = served
      served = []
      for (const wake of waking) Deferred.doneUnsafe(wake, Exit.void)
    }
    const wakeSoon = (wake: Deferred.Deferred<void, QueueShutdown>) => {
      served.push(wake)
      if (served.length === 1) queueMicrotask(wakeServed)
    }

    /** Moves items from waiting offers into the buffer and from the buffer to waiting takes, while it can. */
    const settle = (): void => {
      for (;;) {
        let moved = false
        while (buffer.length < capacity && offerers.length > 0) {
          const offerer = offerers.peek()!
          while (buffer.length < capacity && offerer.next < offerer.items.length) {
            buffer.push(offerer.items[offerer.next++] as A)
            unfinished++
            moved = true
          }
          if (offerer.next === offerer.items.length) {
            offerers.shift()
            wakeSoon(offerer.wake)
          }
        }
        while (buffer.length > 0 && takers.length > 0) {
          const taker = takers.shift()!
          // A take whose process is gone is being interrupted: it gets nothing.
          if (sessions.isGone(taker.session)) continue
          taker.items = takeFromBuffer(taker.session, taker.take, taker.max)
          wakeSoon(taker.wake)
          moved = true
        }
        if (!moved) break
      }
      if (isShutdown && buffer.length === 0) {
        for (let taker = takers.shift(); taker !== undefined; taker = takers.shift()) {
          Deferred.doneUnsafe(taker.wake, Exit.fail(new QueueShutdown()))
        }
      }
    }

    // The handlers do their work when called, and return an `Exit` when they are done (no fiber for the call).
    const offer = (items: ReadonlyArray<A>, timeout: number | null): Effect.Effect<void, QueueShutdown | QueueFull> => {
      if (isShutdown) return Effect.fail(new QueueShutdown())
      if (offerers.length === 0 && buffer.length + items.length <= capacity) {
        for (const item of items) buffer.push(item)
        unfinished += items.length
        settle()
        return Effect.void
      }
      const offerer: Offerer<A> = { items, next: 0, wake: Deferred.makeUnsafe() }
      offerers.push(offerer)
      settle()
      if (offerer.next === items.length) return Effect.void
      const woken: Effect.Effect<void, QueueShutdown | QueueFull> = Deferred.await(offerer.wake)
      const bounded =
        timeout === null
          ? woken
          : woken.pipe(
              Effect.timeoutOption(timeout),
              Effect.flatMap((done) => {
                // All in, though its wake may still be on its way: the offer succeeded.
                if (Option.isSome(done) || offerer.next === items.length) return woken
                // Decided here, so the caller's answer is exact: the items not yet in stay out (a single
                // offer's one item: none is in), and QueueFull says so.
                offerers.remove((entry) => entry === offerer)
                return Effect.fail(new QueueFull({ capacity }))
              })
            )
      // Interrupted: the items not yet in stay out (those in stay: other processes may have taken them).
      return bounded.pipe(Effect.onInterrupt(() => Effect.sync(() => offerers.remove((entry) => entry === offerer))))
    }

    const take = (request: typeof TakeRequest.Type): Effect.Effect<ReadonlyArray<A>, QueueShutdown> => {
      const max = Math.max(1, Math.floor(request.max))
      // Only a call racing its own process's death gets here: nothing may be filed under a session that is gone.
      if (sessions.isGone(request.session)) return Effect.interrupt
      if (buffer.length > 0) {
        const items = takeFromBuffer(request.session, request.take, max)
        settle()
        return Effect.succeed(items)
      }
      if (isShutdown) return Effect.fail(new QueueShutdown())
      if (!request.wait) return Effect.succeed([])
      const taker: Taker<A> = {
        session: request.session,
        take: request.take,
        max,
        wake: Deferred.makeUnsafe(),
        items: undefined
      }
      takers.push(taker)
      return Deferred.await(taker.wake).pipe(
        Effect.map(() => taker.items!),
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            if (taker.items === undefined) return void takers.remove((entry) => entry === taker)
            // Given items it will not return: they go back, first in line.
            if (acknowledged) giveBackHeld(taker.session, taker.take, taker.items.length)
            else buffer.pushFront(taker.items)
            taker.items = []
            settle()
          })
        )
      )
    }

    const taskDone = (request: { readonly session: string; readonly count: number }) => {
      const count = request.count
      if (count < 0) return Effect.fail(new QueueTaskDoneError({ count, outstanding: unfinished }))
      const entries = acknowledged ? held.get(request.session) : undefined
      const outstanding = acknowledged ? Math.min(entries?.length ?? 0, unfinished) : unfinished
      if (count > outstanding) return Effect.fail(new QueueTaskDoneError({ count, outstanding }))
      entries?.splice(0, count)
      unfinished -= count
      if (unfinished === 0 && joined !== undefined) {
        Deferred.doneUnsafe(joined, Exit.void)
        joined = undefined
      }
      return Effect.void
    }

    const join = Effect.suspend(() => {
      if (unfinished === 0) return Effect.void
      joined ??= Deferred.makeUnsafe<void>()
      return Deferred.await(joined)
    })

    return Channel.serve(serviceOf(options.item), {
      Open: sessions.hold,
      Offer: (items) => offer(items, null),
      OfferWithin: ({ items, timeout }) => offer(items, timeout),
      Take: take,
      GiveBack: ({ count, items, session, take }) => {
        if (acknowledged) giveBackHeld(session, take, count)
        else buffer.pushFront(items)
        settle()
        return Effect.void
      },
      Size: () => Effect.succeed(buffer.length),
      Shutdown: () => {
        if (isShutdown) return Effect.void
        isShutdown = true
        for (let offerer = offerers.shift(); offerer !== undefined; offerer = offerers.shift()) {
          Deferred.doneUnsafe(offerer.wake, Exit.fail(new QueueShutdown()))
        }
        settle()
        return Effect.void
      },
      TaskDone: taskDone,
      Join: () => join
    } as Channel.Handlers<QueueService>).pipe(Effect.map((handle) => wrap<A>(handle)))
  })

const handleOf = (queue: IpcQueue<any>) => queue.handle as Channel.Handle<QueueService>

/**
 * Options of `offer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OfferOptions {
  /**
   * How long to wait for room, run by the process that hosts the queue
   * (Python's `put(timeout=...)`): when it passes first, the offer fails
   * with `QueueFull` and its item is not in the queue. A duration of zero
   * or more (anything else is an `InvalidOption` defect); `Infinity` waits
   * as long as it takes.
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Puts an item at the end of the queue, waiting for room while it is full.
 * Fails with `QueueShutdown` once the queue is shut down (a waiting offer
 * too: its item is not put).
 *
 * With a `timeout`, the host bounds the wait: the offer fails with
 * `QueueFull` exactly when its item was not put, so a producer may offer it
 * again. Interrupting an offer from outside (`Effect.timeout`, a race) is no
 * such answer: the host may have put the item just before, and the failed
 * offer's item is then in the queue.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const put = IpcQueue.offer(queue, "job-1")
 * // Not put (and safe to offer again) when there is no room within 100 ms.
 * const bounded = IpcQueue.offer(queue, "job-2", { timeout: "100 millis" }).pipe(
 *   Effect.catchTag("QueueFull", () => Effect.log("queue full, job-2 not put"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category offering
 */
export function offer<A>(self: IpcQueue<A>, item: A): Effect.Effect<void, QueueShutdown | Channel.CallError>
export function offer<A>(
  self: IpcQueue<A>,
  item: A,
  options: OfferOptions
): Effect.Effect<void, QueueFull | QueueShutdown | Channel.CallError>
export function offer<A>(
  self: IpcQueue<A>,
  item: A,
  options?: OfferOptions
): Effect.Effect<void, QueueFull | QueueShutdown | Channel.CallError> {
  return Hosted.withTimeout(options?.timeout, (timeout) =>
    timeout === null
      ? Channel.call(handleOf(self), "Offer", [item])
      : Channel.call(handleOf(self), "OfferWithin", { items: [item], timeout })
  )
}

/**
 * Puts items at the end of the queue, in their order, in one message to the
 * host: each goes in as soon as there is room for it, and the call ends when
 * all are in. An interrupted `offerAll` leaves in the queue the items
 * already put.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<number>
 * const putBatch = IpcQueue.offerAll(queue, [1, 2, 3])
 * ```
 *
 * @since 0.1.0
 * @category offering
 */
export const offerAll = <A>(
  self: IpcQueue<A>,
  items: Iterable<A>
): Effect.Effect<void, QueueShutdown | Channel.CallError> =>
  Effect.suspend(() => {
    const array = Array.from(items)
    return array.length === 0 ? Effect.void : Channel.call(handleOf(self), "Offer", array)
  })

const nextTake = (): string => Endpoints.freshId()

/**
 * A take of up to `max` items under a fresh take id. An interrupted one gives
 * back whatever the host gave it: the reply that comes after the
 * interruption goes back to the head of the queue, unread.
 */
const takeWith = <A>(
  self: IpcQueue<A>,
  max: number,
  wait: boolean
): Effect.Effect<
  { readonly items: ReadonlyArray<A>; readonly session: string; readonly take: string },
  QueueShutdown | Channel.CallError
> =>
  Effect.suspend(() => {
    const handle = handleOf(self)
    const session = Session.of(handle)
    const take = nextTake()
    const onLateSuccess = (late: unknown) => {
      const items = late as ReadonlyArray<A>
      if (items.length > 0) Effect.runFork(giveBack(handle, session, take, items.length, items))
    }
    return Channel.callKeepingLate(handle, "Take", { session, take, max, wait }, onLateSuccess).pipe(
      Effect.map((items) => ({ items: items as ReadonlyArray<A>, session, take }))
    ) as Effect.Effect<
      { readonly items: ReadonlyArray<A>; readonly session: string; readonly take: string },
      QueueShutdown | Channel.CallError
    >
  })

/** Gives items back to the head of the queue (a failure to reach the host is ignored: the host is gone with its queue). */
const giveBack = (
  handle: Channel.Handle<QueueService>,
  session: string,
  take: string,
  count: number,
  items: ReadonlyArray<unknown>
): Effect.Effect<void> => Effect.ignore(Channel.call(handle, "GiveBack", { session, take, count, items }))

/**
 * Takes the item at the head of the queue, waiting for one while it is
 * empty. Fails with `QueueShutdown` when the queue is shut down and empty.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const next = IpcQueue.take(queue)
 * ```
 *
 * @since 0.1.0
 * @category taking
 */
export const take = <A>(self: IpcQueue<A>): Effect.Effect<A, QueueShutdown | Channel.CallError> =>
  Effect.map(takeWith(self, 1, true), ({ items }) => items[0]!)

/**
 * Takes up to `max` items from the head of the queue: those there, waiting
 * for at least one while it is empty. Fails with `QueueShutdown` when the
 * queue is shut down and empty.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const batch = IpcQueue.takeUpTo(queue, 100)
 * ```
 *
 * @since 0.1.0
 * @category taking
 */
export const takeUpTo = <A>(
  self: IpcQueue<A>,
  max: number
): Effect.Effect<ReadonlyArray<A>, QueueShutdown | Channel.CallError> =>
  Effect.map(takeWith(self, max, true), ({ items }) => items)

/**
 * Takes the item at the head of the queue if there is one, without waiting.
 * Fails with `QueueShutdown` when the queue is shut down and empty.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const maybe = IpcQueue.poll(queue) // Option<string>
 * ```
 *
 * @since 0.1.0
 * @category taking
 */
export const poll = <A>(self: IpcQueue<A>): Effect.Effect<Option.Option<A>, QueueShutdown | Channel.CallError> =>
  Effect.map(takeWith(self, 1, false), ({ items }) => (items.length === 0 ? Option.none() : Option.some(items[0]!)))

/**
 * How many items wait in the queue (taken items, acknowledged or not, are
 * not counted).
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const waiting = IpcQueue.size(queue)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const size = <A>(self: IpcQueue<A>): Effect.Effect<number, Channel.CallError> =>
  Channel.call(handleOf(self), "Size", undefined)

/**
 * Shuts the queue down: offers (waiting ones and later ones) fail with
 * `QueueShutdown`; takes get the items still in the queue, then fail with
 * `QueueShutdown` (waiting takes at once); a `stream` ends. Shutting down
 * twice does nothing more.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const end = IpcQueue.shutdown(queue)
 * ```
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const shutdown = <A>(self: IpcQueue<A>): Effect.Effect<void, Channel.CallError> =>
  Channel.call(handleOf(self), "Shutdown", undefined)

/**
 * Marks `count` (default 1) taken items as done, for `join`. In an
 * acknowledged queue it also acknowledges the `count` oldest items this
 * process took and has not acknowledged: they will not come back if the
 * process dies. Fails with `QueueTaskDoneError` when there are not that many
 * to mark.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const work = IpcQueue.take(queue).pipe(
 *   Effect.tap((job) => Effect.log(`processing ${job}`)),
 *   Effect.andThen(IpcQueue.taskDone(queue))
 * )
 * ```
 *
 * @since 0.1.0
 * @category joining
 */
export const taskDone = <A>(
  self: IpcQueue<A>,
  count = 1
): Effect.Effect<void, QueueTaskDoneError | Channel.CallError> =>
  Effect.suspend(() => {
    const handle = handleOf(self)
    return Channel.call(handle, "TaskDone", { session: Session.of(handle), count })
  })

/**
 * Waits until every item ever put in the queue was marked done with
 * `taskDone`.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<string>
 * const allDone = IpcQueue.join(queue)
 * ```
 *
 * @since 0.1.0
 * @category joining
 */
export const join = <A>(self: IpcQueue<A>): Effect.Effect<void, Channel.CallError> =>
  Channel.call(handleOf(self), "Join", undefined)

/**
 * How a `stream` reads the queue.
 *
 * @example
 * ```ts
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<number>
 * const oneByOne = IpcQueue.stream(queue, { prefetch: 1 }) // nothing held in this process beyond the item it emits
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /**
   * How many items one message to the host may bring (with `takeUpTo`).
   * Default 64. Items fetched and not yet pulled when the stream ends are
   * given back to the head of the queue. In a queue that is not
   * acknowledged they are lost if the process dies first.
   */
  readonly prefetch?: number | undefined
}

/**
 * The items of the queue as a `Stream`, one by one, fetched in batches
 * (`prefetch`); it ends when the queue is shut down and empty. Items it
 * fetched and did not emit go back to the head of the queue when the stream
 * ends.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<number>
 * const total = IpcQueue.stream(queue).pipe(Stream.runFold(() => 0, (sum, n) => sum + n))
 * ```
 *
 * @since 0.1.0
 * @category streams
 */
export const stream = <A>(self: IpcQueue<A>, options?: StreamOptions): Stream.Stream<A, Channel.CallError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const prefetch = Math.max(1, Math.floor(options?.prefetch ?? 64))
      const fetched = new Fifo<A>()
      let last: { readonly session: string; readonly take: string } | undefined
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          if (last === undefined || fetched.length === 0) return Effect.void
          const items: Array<A> = []
          while (fetched.length > 0) items.push(fetched.shift() as A)
          return giveBack(handleOf(self), last.session, last.take, items.length, items)
        })
      )
      const pull = Effect.suspend(() => {
        if (fetched.length > 0) return Effect.succeed([fetched.shift() as A] as const)
        return takeWith(self, prefetch, true).pipe(
          Effect.map(({ items, session, take }) => {
            last = { session, take }
            for (let i = 1; i < items.length; i++) fetched.push(items[i]!)
            return [items[0]!] as const
          }),
          Effect.catchTag("QueueShutdown", () => Cause.done())
        )
      })
      return Stream.fromPull(Effect.succeed(pull))
    })
  )

/**
 * A `Sink` that offers every item it is given to the queue, a chunk at a
 * time (`offerAll`).
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<number>
 * const fill = Stream.range(1, 1000).pipe(Stream.run(IpcQueue.sink(queue)))
 * ```
 *
 * @since 0.1.0
 * @category streams
 */
export const sink = <A>(self: IpcQueue<A>): Sink.Sink<void, A, never, QueueShutdown | Channel.CallError> =>
  Sink.forEachArray((items: ReadonlyArray<A>) => offerAll(self, items))
