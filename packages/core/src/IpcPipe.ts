/**
 * A duplex pipe between two processes, hosted by their parent: Python's
 * `multiprocessing.Pipe()`, typed by a Schema for each direction.
 *
 * `make(aSchema, bSchema)` creates it in the parent, inside a `Scope`, and
 * returns its two ends: the first sends `A` and receives `B`, the second
 * sends `B` and receives `A`. `schema(send, receive)` is the Schema of an
 * end, to pass it to a child in a task's payload or an actor's message.
 * Each end belongs to the first process that uses it; another process using
 * it fails with `PipeEndInUse`. Messages arrive in the order they were sent.
 *
 * Crash semantic: when the process that owns one end dies, or closes its end
 * (`close`), the other end still receives what was sent before, and then
 * `receive` fails with a typed `PipeClosed` (and `stream` ends) instead of
 * waiting forever; `send` to a closed peer fails the same way (Python's
 * `BrokenPipeError`).
 *
 * Delivery is exact: each message is received once, in order, even when a
 * `receive` is interrupted (a timeout) while its message is on the way
 * back. The receiving process counts what it got and each `receive` says so;
 * the host keeps a delivered message until a later `receive` acknowledges
 * it, and sends it again to a `receive` that did not get it. Concurrent
 * receives of one end in a process take their turn.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type * as Types from "effect/Types"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { expected } from "./internal/options.ts"
import * as Session from "./Session.ts"
import { PipeClosed, PipeEndInUse } from "./TroupeError.ts"

const TypeId = "~@troupe/core/IpcPipe/End" as const

/**
 * One end of a pipe: sends `Send`, receives `Receive`.
 *
 * @since 0.1.0
 * @category models
 */
export interface End<in out Send, in out Receive> {
  readonly [TypeId]: {
    readonly _Send: Types.Invariant<Send>
    readonly _Receive: Types.Invariant<Receive>
  }
  /** The hosted service behind this end: what travels to other processes. */
  readonly handle: Channel.Handle<Channel.Any>
}

/**
 * Everything an operation on an end can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type PipeError = PipeClosed | PipeEndInUse | Channel.CallError

const PipeFailure = Schema.Union([PipeClosed, PipeEndInUse])

const buildService = (send: Schema.Top, receive: Schema.Top) =>
  Channel.make("troupe/IpcPipe", {
    Open: Session.openMethod,
    Send: { payload: Schema.Struct({ session: Schema.String, message: send }), error: PipeFailure },
    // `received`: how many messages this end's process has got, which acknowledges them all.
    Receive: {
      payload: Schema.Struct({ session: Schema.String, received: Schema.Number }),
      success: Schema.Struct({ sequence: Schema.Number, message: receive }),
      error: PipeFailure
    },
    Close: { payload: Schema.String, error: PipeEndInUse }
  })

type EndService = ReturnType<typeof buildService>

const serviceOf = Hosted.serviceMemo((send: Schema.Top) =>
  Hosted.serviceMemo((receive: Schema.Top) => buildService(send, receive))
)

const variance = { _Send: (a: unknown) => a, _Receive: (b: unknown) => b }

const wrap = <Send, Receive>(handle: Channel.Handle<Channel.Any>): End<Send, Receive> => ({
  [TypeId]: variance as End<Send, Receive>[typeof TypeId],
  handle
})

const handleOf = (end: End<any, any>) => end.handle as Channel.Handle<EndService>

/**
 * Whether `u` is an end of a pipe.
 *
 * @example
 * ```ts
 * import { IpcPipe } from "@troupe/core"
 *
 * IpcPipe.isEnd({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isEnd = (u: unknown): u is End<unknown, unknown> => typeof u === "object" && u !== null && TypeId in u

/**
 * The Schema of an end that sends `send` and receives `receive`, to pass it
 * to a child in a task's payload or an actor's message. The end `make`
 * returns second is `schema(bSchema, aSchema)`.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import { IpcPipe, Task } from "@troupe/core"
 *
 * // The child's end: it receives strings and answers with their lengths.
 * export const Lengths = Task.make("Lengths", {
 *   payload: { end: IpcPipe.schema(Schema.Number, Schema.String) },
 *   handler: ({ end }) =>
 *     IpcPipe.stream(end).pipe(
 *       Stream.runForEach((text) => IpcPipe.send(end, text.length)),
 *       Effect.orDie
 *     )
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema = <Send extends Schema.Top, Receive extends Schema.Top>(
  send: Send,
  receive: Receive
): Schema.Codec<End<Send["Type"], Receive["Type"]>, Channel.HandleEncoded> =>
  Hosted.handleSchema({
    service: serviceOf(send)(receive),
    is: (u): u is End<Send["Type"], Receive["Type"]> => isEnd(u),
    wrap: (handle) => wrap(handle),
    unwrap: handleOf
  })

interface Side {
  /** The session of the process this end belongs to, once one used it. */
  owner: string | undefined
  closed: boolean
  /**
   * What the other end sent to this one and this end has not acknowledged:
   * `inbox[head]` is message number `first` (counted from 1), delivered
   * perhaps, but kept until a receive says it got it.
   */
  readonly inbox: Array<unknown>
  head: number
  first: number
  /** Completed, and replaced, when a message arrives or an end closes. */
  changed: Deferred.Deferred<void>
}

const makeSide = (): Side => ({
  owner: undefined,
  closed: false,
  inbox: [],
  head: 0,
  first: 1,
  changed: Deferred.makeUnsafe<void>()
})

/** Wakes the receive waiting on `side`, if any. */
const signal = (side: Side): void => {
  const changed = side.changed
  side.changed = Deferred.makeUnsafe<void>()
  Deferred.doneUnsafe(changed, Exit.void)
}

/** Drops the messages up to number `received`: the receiving process has them. */
const acknowledge = (side: Side, received: number): void => {
  while (side.first <= received && side.head < side.inbox.length) {
    side.inbox[side.head++] = undefined
    side.first++
  }
  if (side.head === side.inbox.length) {
    side.inbox.length = 0
    side.head = 0
  } else if (side.head > 1024 && side.head * 2 > side.inbox.length) {
    side.inbox.splice(0, side.head)
    side.head = 0
  }
}

/**
 * Creates a pipe in this process, hosted until the scope closes (waiting
 * calls then fail with `ChannelError`, and so do later calls), and returns
 * its two ends: the first sends `A` and receives `B`, the second the
 * reverse.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcPipe } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const [left, right] = yield* IpcPipe.make(Schema.String, Schema.Number)
 *   yield* IpcPipe.send(left, "hello")
 *   return yield* IpcPipe.receive(right) // "hello"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A extends Schema.Top, B extends Schema.Top>(
  a: A,
  b: B
): Effect.Effect<readonly [End<A["Type"], B["Type"]>, End<B["Type"], A["Type"]>], never, Scope.Scope> =>
  Effect.gen(function* () {
    for (const schema of [a, b]) {
      if (!Schema.isSchema(schema)) return yield* Effect.die(expected("IpcPipe.make", "two Schemas", schema))
    }
    const sessions = Session.makeTable()
    const sides: [Side, Side] = [makeSide(), makeSide()]
    // This end can no longer be used; the other end gets what is already sent, then PipeClosed.
    const close = (index: 0 | 1) => {
      const side = sides[index]
      if (side.closed) return
      side.closed = true
      side.inbox.length = 0
      side.head = 0
      signal(side)
      signal(sides[1 - index]!)
    }
    // The handlers do their work when called, and return an `Exit` when they are done (no fiber for the call).
    const bind = (index: 0 | 1, session: string): Side | PipeEndInUse => {
      const side = sides[index]
      if (side.owner === undefined) {
        side.owner = session
        sessions.onGone(session, () => close(index))
      } else if (side.owner !== session) return new PipeEndInUse()
      return side
    }
    const closedError = (index: 0 | 1) =>
      sides[index].closed
        ? new PipeClosed({ reason: "Closed", message: "this end of the pipe was closed" })
        : new PipeClosed({
            reason: "PeerClosed",
            message: "the other end of the pipe was closed, or its process is gone"
          })
    // The message after number `received`, kept (not taken) so that a receive that never got it gets it again.
    const next = (
      index: 0 | 1,
      side: Side,
      received: number
    ): Effect.Effect<{ readonly sequence: number; readonly message: unknown }, PipeClosed> => {
      if (side.closed) return Effect.fail(closedError(index))
      acknowledge(side, received)
      if (side.head < side.inbox.length) return Effect.succeed({ sequence: side.first, message: side.inbox[side.head] })
      if (sides[1 - index]!.closed) return Effect.fail(closedError(index))
      return Effect.flatMap(Deferred.await(side.changed), () => next(index, side, received))
    }
    const serveEnd = (index: 0 | 1, send: Schema.Top, receive: Schema.Top) =>
      Channel.serve(serviceOf(send)(receive), {
        Open: sessions.hold,
        Send: ({ message, session }) => {
          const side = bind(index, session)
          if (side instanceof PipeEndInUse) return Effect.fail(side)
          const other = sides[1 - index]!
          if (side.closed || other.closed) return Effect.fail(closedError(index))
          other.inbox.push(message)
          signal(other)
          return Effect.void
        },
        Receive: ({ received, session }) => {
          const side = bind(index, session)
          return side instanceof PipeEndInUse ? Effect.fail(side) : next(index, side, received)
        },
        Close: (session) => {
          const side = bind(index, session)
          if (side instanceof PipeEndInUse) return Effect.fail(side)
          close(index)
          return Effect.void
        }
      })
    const first = yield* serveEnd(0, a, b)
    const second = yield* serveEnd(1, b, a)
    return [wrap<A["Type"], B["Type"]>(first), wrap<B["Type"], A["Type"]>(second)] as const
  })

/**
 * Sends `message` to the other end. Fails with `PipeClosed` once either end
 * is closed (or the other end's process is gone).
 *
 * @example
 * ```ts
 * import { IpcPipe } from "@troupe/core"
 *
 * declare const end: IpcPipe.End<string, number>
 * const program = IpcPipe.send(end, "hello")
 * ```
 *
 * @since 0.1.0
 * @category sending
 */
export const send = <Send, Receive>(end: End<Send, Receive>, message: Send): Effect.Effect<void, PipeError> =>
  Effect.suspend(() => {
    const handle = handleOf(end)
    return Channel.call(handle, "Send", { session: Session.of(handle), message })
  })

/**
 * Receives the next message from the other end, waiting for one. Once the
 * other end is closed (or its process is gone) and everything it sent was
 * received, fails with `PipeClosed`.
 *
 * @example
 * ```ts
 * import { IpcPipe } from "@troupe/core"
 *
 * declare const end: IpcPipe.End<string, number>
 * const next = IpcPipe.receive(end) // Effect<number, PipeError>
 * ```
 *
 * @since 0.1.0
 * @category receiving
 */
export const receive = <Send, Receive>(end: End<Send, Receive>): Effect.Effect<Receive, PipeError> =>
  Effect.suspend(() => {
    const handle = handleOf(end)
    const counter = receiverOf(handle.endpoint)
    const call = Effect.suspend(() =>
      Channel.call(handle, "Receive", { session: Session.of(handle), received: counter.received })
    )
    return Semaphore.withPermit(counter.turn)(call).pipe(
      Effect.flatMap(({ message, sequence }) => {
        // A reply of a receive that started before the last one finished may repeat a message: skip it.
        if (sequence <= counter.received) return receive(end)
        counter.received = sequence
        return Effect.succeed(message as Receive)
      }),
      // A closed end (or a closed service, or a parent gone) stays so: what this process counted is no longer needed.
      Effect.tapError((error) =>
        error._tag === "PipeClosed" || error._tag === "ChannelError"
          ? Effect.sync(() => receivers.delete(handle.endpoint))
          : Effect.void
      )
    )
  })

/** What this process has received through one end: its count, and the turn of concurrent receives. */
interface Receiver {
  received: number
  readonly turn: Semaphore.Semaphore
}

const receiversKey = Symbol.for("@troupe/core/IpcPipe/receivers")
const receiversHolder = globalThis as { [receiversKey]?: Map<string, Receiver> }
/** Per process (on `globalThis`, so that every copy of this module in it counts together), by endpoint. */
if (receiversHolder[receiversKey] === undefined) receiversHolder[receiversKey] = new Map()
const receivers: Map<string, Receiver> = receiversHolder[receiversKey]

const receiverOf = (endpoint: string): Receiver => {
  let receiver = receivers.get(endpoint)
  if (receiver === undefined) {
    receiver = { received: 0, turn: Semaphore.makeUnsafe(1) }
    receivers.set(endpoint, receiver)
  }
  return receiver
}

/**
 * The messages from the other end, as a stream that ends when the other end
 * is closed (or its process is gone) and everything it sent was received.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { IpcPipe } from "@troupe/core"
 *
 * declare const end: IpcPipe.End<string, number>
 * const all = Stream.runCollect(IpcPipe.stream(end))
 * ```
 *
 * @since 0.1.0
 * @category receiving
 */
export const stream = <Send, Receive>(
  end: End<Send, Receive>
): Stream.Stream<Receive, PipeEndInUse | Channel.CallError> =>
  Stream.fromEffectRepeat(receive(end).pipe(Effect.catchTag("PipeClosed", () => Cause.done())))

/**
 * Closes this end: the other end receives what was already sent, then
 * `PipeClosed`; this end can no longer send or receive. Closing twice does
 * nothing.
 *
 * @example
 * ```ts
 * import { IpcPipe } from "@troupe/core"
 *
 * declare const end: IpcPipe.End<string, number>
 * const program = IpcPipe.close(end)
 * ```
 *
 * @since 0.1.0
 * @category sending
 */
export const close = <Send, Receive>(end: End<Send, Receive>): Effect.Effect<void, PipeEndInUse | Channel.CallError> =>
  Effect.suspend(() => {
    const handle = handleOf(end)
    return Channel.call(handle, "Close", Session.of(handle))
  })
