/**
 * A lock shared by processes (Python's `multiprocessing.Lock`, and `RLock`
 * with `reentrant: true`), hosted by the parent that made it and usable
 * from the parent, its children and their children.
 *
 * Each acquisition has an owner: the process's session and a token of its
 * own, so only the acquisition that holds the lock can release it. Waiters
 * are served first come, first served. The lock is robust, like a POSIX
 * robust mutex (`EOWNERDEAD`): when the process that holds it dies, it is
 * released, and the next acquisition learns it with `abandoned: true` (the
 * data it guards may be half updated). A waiting `acquire` whose caller is
 * interrupted, or whose process dies, never gets the lock.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { booleanOption, firstInvalid, optionsObject } from "./internal/options.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
import * as Session from "./Session.ts"
import { LockError } from "./TroupeError.ts"

const TypeId = "~@troupe/core/IpcLock" as const

const Acquisition = Schema.Struct({ session: Schema.String, token: Schema.String })

const LockService = Channel.make("IpcLock", {
  Open: Session.openMethod,
  Acquire: {
    payload: Schema.Struct({ session: Schema.String, token: Schema.String, within: Schema.optional(Schema.String) }),
    success: Schema.Boolean,
    error: LockError
  },
  Release: { payload: Acquisition, error: LockError },
  Cancel: { payload: Acquisition },
  Status: { success: Schema.Struct({ locked: Schema.Boolean, waiting: Schema.Int }) }
})

/**
 * A lock shared by processes.
 *
 * @since 0.1.0
 * @category models
 */
export interface IpcLock {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly handle: Channel.Handle<typeof LockService>
}

/**
 * One acquisition of the lock: what `release` takes back, and whether the
 * lock was abandoned (its previous holder's process died holding it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Held {
  /** The acquisition's own id: only it releases the lock. */
  readonly token: string
  /**
   * The previous holder's process died while it held the lock: what the
   * lock guards may be half updated. Set for the one acquisition that
   * follows the death, then cleared.
   */
  readonly abandoned: boolean
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Python's `RLock`: a `withLock` (or `acquire`) inside the body of a
   * `withLock` of the same lock enters again at once instead of waiting for
   * itself. The lock is free once every acquisition is released. Default
   * `false`: acquiring again inside the body fails with `LockError`
   * `"WouldDeadlock"`.
   */
  readonly reentrant?: boolean | undefined
}

/**
 * Whether `u` is an `IpcLock`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isIpcLock = (u: unknown): u is IpcLock => typeof u === "object" && u !== null && TypeId in u

const wrap = (handle: Channel.Handle<typeof LockService>): IpcLock => ({ [TypeId]: TypeId, handle })

/**
 * The Schema of a lock, to put it in a task's payload or an actor's message.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcLock, Task } from "@troupe/core"
 *
 * export const Critical = Task.make("Critical", {
 *   payload: { lock: IpcLock.schema },
 *   success: Schema.Boolean,
 *   handler: ({ lock }) => IpcLock.withLock(lock, (held) => Effect.succeed(held.abandoned)).pipe(Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Codec<IpcLock, Channel.HandleEncoded> = Hosted.handleSchema({
  service: LockService,
  is: isIpcLock,
  wrap,
  unwrap: (lock) => lock.handle
})

interface Waiter {
  readonly session: string
  readonly token: string
  readonly granted: Deferred.Deferred<boolean>
}

interface Holder {
  readonly session: string
  /** Every acquisition holding the lock: one, or more when it was entered again. */
  readonly tokens: Set<string>
  /** Granted with `abandoned: true`: a grant given back unheard passes that on to the next holder. */
  readonly abandoned: boolean
  /** Forgets the release that runs when the holder's process dies. */
  forget: () => void
}

/**
 * Makes a lock, hosted by this process until the scope closes; waiting
 * callers then fail with `ChannelError` `"ServiceClosed"`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcLock } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* IpcLock.make()
 *   // pass `lock` to children in a payload whose Schema has `IpcLock.schema`
 *   return yield* IpcLock.withLock(lock, Effect.succeed("inside"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<IpcLock, never, Scope.Scope> =>
  Effect.suspend(() => {
    const invalid = firstInvalid(
      optionsObject("options", options ?? undefined),
      booleanOption("reentrant", options?.reentrant)
    )
    if (invalid !== undefined) return Effect.die(invalid)
    const reentrant = options?.reentrant === true
    const sessions = Session.makeTable()
    const waiters = new Set<Waiter>()
    let holder: Holder | undefined
    let abandoned = false

    const grant = (session: string, token: string): boolean => {
      const wasAbandoned = abandoned
      abandoned = false
      const granted: Holder = { session, tokens: new Set([token]), abandoned: wasAbandoned, forget: () => {} }
      holder = granted
      // Registered once `holder` is set: a session already gone releases at once, and must find it.
      granted.forget = sessions.onGone(session, () => {
        if (holder !== granted) return
        holder = undefined
        abandoned = true
        next()
      })
      return wasAbandoned
    }
    const next = () => {
      for (const waiter of waiters) {
        waiters.delete(waiter)
        // A waiter whose process is gone is skipped: its call is being interrupted.
        if (sessions.isGone(waiter.session)) continue
        Deferred.doneUnsafe(waiter.granted, Exit.succeed(grant(waiter.session, waiter.token)))
        return
      }
    }
    /** Gives back one acquisition; whether it held the lock. */
    const giveBack = (session: string, token: string): boolean => {
      if (holder === undefined || holder.session !== session || !holder.tokens.delete(token)) return false
      if (holder.tokens.size === 0) {
        holder.forget()
        holder = undefined
        next()
      }
      return true
    }
    /** Takes back an acquisition whose caller gave up: waiting, or granted but never heard of. */
    const cancel = (session: string, token: string) => {
      for (const waiter of waiters) {
        if (waiter.token === token) {
          waiters.delete(waiter)
          return
        }
      }
      // Its caller never learned the lock was abandoned: the next holder must, as if this grant never happened.
      if (holder?.abandoned === true && holder.tokens.size === 1 && holder.tokens.has(token)) abandoned = true
      giveBack(session, token)
    }

    return Channel.serve(LockService, {
      Open: sessions.hold,
      Acquire: ({ session, token, within }) =>
        Effect.suspend(() => {
          if (within !== undefined && holder?.session === session && holder.tokens.has(within)) {
            if (!reentrant) {
              return Effect.fail(
                new LockError({
                  reason: "WouldDeadlock",
                  message: "the lock is acquired again inside its own withLock; make it with { reentrant: true }"
                })
              )
            }
            holder.tokens.add(token)
            return Effect.succeed(false)
          }
          // A call that arrives after its process was found gone is not served: it would be granted to the dead.
          if (sessions.isGone(session)) return Effect.interrupt
          if (holder === undefined && waiters.size === 0) return Effect.succeed(grant(session, token))
          const waiter: Waiter = { session, token, granted: Deferred.makeUnsafe() }
          waiters.add(waiter)
          return Deferred.await(waiter.granted).pipe(
            Effect.onInterrupt(() => Effect.sync(() => cancel(session, token)))
          )
        }),
      Release: ({ session, token }) =>
        Effect.suspend(() =>
          giveBack(session, token)
            ? Effect.void
            : Effect.fail(
                new LockError({
                  reason: "NotOwner",
                  message: "release of an acquisition that does not hold the lock (another's, or already released)"
                })
              )
        ),
      Cancel: ({ session, token }) => Effect.sync(() => cancel(session, token)),
      Status: () => Effect.sync(() => ({ locked: holder !== undefined, waiting: waiters.size }))
    }).pipe(Effect.map(wrap))
  })

/** The acquisitions held by the current fiber's `withLock` bodies, by lock endpoint. */
const Within = Context.Reference<ReadonlyMap<string, string>>("@troupe/core/IpcLock/Within", {
  defaultValue: () => new Map()
})

/**
 * Acquires the lock, waiting for it (first come, first served); succeeds
 * with the acquisition to `release`. Interrupting the wait (for example
 * with `Effect.timeout`, Python's `acquire(timeout=...)`) leaves nothing
 * behind. Prefer `withLock`, which always releases.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcLock } from "@troupe/core"
 *
 * declare const lock: IpcLock.IpcLock
 * const program = Effect.gen(function*() {
 *   const held = yield* IpcLock.acquire(lock)
 *   if (held.abandoned) yield* Effect.log("the previous holder died inside")
 *   yield* IpcLock.release(lock, held)
 * })
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const acquire = (lock: IpcLock): Effect.Effect<Held, LockError | Channel.CallError> =>
  Effect.gen(function* () {
    const within = (yield* Within).get(lock.handle.endpoint)
    const session = Session.of(lock.handle)
    const token = Endpoints.freshId()
    const abandoned = yield* Channel.call(lock.handle, "Acquire", { session, token, within }).pipe(
      // The host may have granted it just as the caller gave up: the token lets it take the grant back.
      Effect.onInterrupt(() => Effect.ignore(Channel.call(lock.handle, "Cancel", { session, token })))
    )
    return { token, abandoned }
  })

/**
 * Releases an acquisition. Fails with `LockError` `"NotOwner"` when `held`
 * does not hold the lock.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcLock } from "@troupe/core"
 *
 * declare const lock: IpcLock.IpcLock
 * const program = IpcLock.acquire(lock).pipe(Effect.flatMap((held) => IpcLock.release(lock, held)))
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const release = (lock: IpcLock, held: Held): Effect.Effect<void, LockError | Channel.CallError> =>
  Effect.suspend(() => Channel.call(lock.handle, "Release", { session: Session.of(lock.handle), token: held.token }))

/**
 * Runs `body` holding the lock, and releases it however the body ends
 * (success, failure or interruption). `body` may be a function of the
 * acquisition, to learn whether the lock was `abandoned`. A waiting
 * `withLock` can be interrupted.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcLock, SharedRef } from "@troupe/core"
 *
 * declare const lock: IpcLock.IpcLock
 * declare const counter: SharedRef.SharedRef<number>
 * const increment = IpcLock.withLock(lock, (held) =>
 *   Effect.gen(function*() {
 *     if (held.abandoned) yield* Effect.log("a process died holding the lock")
 *     const n = yield* SharedRef.get(counter)
 *     yield* SharedRef.set(counter, n + 1)
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const withLock = <A, E, R>(
  lock: IpcLock,
  body: Effect.Effect<A, E, R> | ((held: Held) => Effect.Effect<A, E, R>)
): Effect.Effect<A, E | LockError | Channel.CallError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const held = yield* restore(acquire(lock))
      const within = new Map(yield* Within).set(lock.handle.endpoint, held.token)
      const run = Effect.isEffect(body) ? body : body(held)
      const exit = yield* Effect.exit(restore(run).pipe(Effect.provideService(Within, within)))
      const released = yield* Effect.exit(release(lock, held))
      // The body's own failure comes first; a failed release (the lock closed) is reported after a success.
      if (Exit.isSuccess(exit)) yield* released
      return yield* exit
    })
  )

/**
 * Whether the lock is held (Python's `Lock.locked()`), and how many callers
 * wait for it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcLock } from "@troupe/core"
 *
 * declare const lock: IpcLock.IpcLock
 * const busy = IpcLock.status(lock).pipe(Effect.map(({ locked, waiting }) => locked && waiting > 0))
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const status = (
  lock: IpcLock
): Effect.Effect<{ readonly locked: boolean; readonly waiting: number }, Channel.CallError> =>
  Channel.call(lock.handle, "Status", undefined)
