/**
 * A counting semaphore shared by processes (Python's
 * `multiprocessing.BoundedSemaphore`), hosted by the parent that made it and
 * usable from the parent, its children and their children.
 *
 * The host counts the permits each process holds: a process releases only
 * what it holds, and when it dies its permits are given back. Waiters are
 * served first come, first served (a waiter for many permits is not
 * overtaken by later waiters for fewer). A waiting `acquire` whose caller is
 * interrupted, or whose process dies, gets no permit.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { refuse } from "./internal/options.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
import * as Session from "./Session.ts"
import { SemaphoreError } from "./TroupeError.ts"

const TypeId = "~@troupe/core/IpcSemaphore" as const

const SemaphoreService = Channel.make("IpcSemaphore", {
  Open: Session.openMethod,
  Acquire: {
    payload: Schema.Struct({ session: Schema.String, token: Schema.String, permits: Schema.Int }),
    error: SemaphoreError
  },
  Release: {
    payload: Schema.Struct({ session: Schema.String, token: Schema.optional(Schema.String), permits: Schema.Int }),
    error: SemaphoreError
  },
  Cancel: { payload: Schema.Struct({ session: Schema.String, token: Schema.String }) },
  Status: { success: Schema.Struct({ available: Schema.Int, waiting: Schema.Int }) }
})

/**
 * A semaphore shared by processes.
 *
 * @since 0.1.0
 * @category models
 */
export interface IpcSemaphore {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly handle: Channel.Handle<typeof SemaphoreService>
}

/**
 * Whether `u` is an `IpcSemaphore`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isIpcSemaphore = (u: unknown): u is IpcSemaphore => typeof u === "object" && u !== null && TypeId in u

const wrap = (handle: Channel.Handle<typeof SemaphoreService>): IpcSemaphore => ({ [TypeId]: TypeId, handle })

/**
 * The Schema of a semaphore, to put it in a task's payload or an actor's
 * message.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { IpcSemaphore, Task } from "@troupe/core"
 *
 * export const Download = Task.make("Download", {
 *   payload: { slots: IpcSemaphore.schema, url: Schema.String },
 *   success: Schema.Void,
 *   handler: ({ slots, url }) => IpcSemaphore.withPermits(slots, 1, Effect.log(`fetching ${url}`)).pipe(Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Codec<IpcSemaphore, Channel.HandleEncoded> = Hosted.handleSchema({
  service: SemaphoreService,
  is: isIpcSemaphore,
  wrap,
  unwrap: (semaphore) => semaphore.handle
})

interface Waiter {
  readonly session: string
  readonly token: string
  readonly permits: number
  readonly granted: Deferred.Deferred<void>
}

interface Grant {
  readonly token: string
  permits: number
}

interface Holdings {
  /** The grants not yet released, oldest first. */
  readonly grants: Array<Grant>
  /** Forgets the release that runs when the process dies. */
  forget: () => void
}

const invalidCount = (message: string) => new SemaphoreError({ reason: "InvalidCount", message })

/**
 * Makes a semaphore of `permits` permits, hosted by this process until the
 * scope closes; waiting callers then fail with `ChannelError`
 * `"ServiceClosed"`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcSemaphore } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const slots = yield* IpcSemaphore.make(3)
 *   // pass `slots` to children in a payload whose Schema has `IpcSemaphore.schema`
 *   yield* IpcSemaphore.withPermits(slots, 1, Effect.log("one of at most three"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (permits: number): Effect.Effect<IpcSemaphore, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (!Number.isSafeInteger(permits) || permits < 1) {
      return Effect.die(refuse("permits", "must be an integer of at least 1", permits))
    }
    const sessions = Session.makeTable()
    const waiters = new Set<Waiter>()
    const holdings = new Map<string, Holdings>()
    let available = permits

    const giveAll = (session: string) => {
      const held = holdings.get(session)
      if (held === undefined) return
      holdings.delete(session)
      for (const grant of held.grants) available += grant.permits
      next()
    }
    const grant = (session: string, token: string, count: number) => {
      available -= count
      const held = holdings.get(session)
      if (held !== undefined) {
        held.grants.push({ token, permits: count })
        return
      }
      const fresh: Holdings = { grants: [{ token, permits: count }], forget: () => {} }
      holdings.set(session, fresh)
      // Registered once the grant is recorded: a session already gone gives it back at once, and must find it.
      fresh.forget = sessions.onGone(session, () => {
        if (holdings.get(session) === fresh) giveAll(session)
      })
    }
    const next = () => {
      for (const waiter of waiters) {
        // A waiter whose process is gone is skipped: its call is being interrupted.
        if (sessions.isGone(waiter.session)) {
          waiters.delete(waiter)
          continue
        }
        if (waiter.permits > available) return
        waiters.delete(waiter)
        grant(waiter.session, waiter.token, waiter.permits)
        Deferred.doneUnsafe(waiter.granted, Exit.void)
      }
    }
    /** Gives back `count` permits of `session`, from its grant `token` or its oldest grants. */
    const giveBack = (session: string, count: number, token?: string): boolean => {
      const held = holdings.get(session)
      if (held === undefined) return false
      const grants = token === undefined ? held.grants : held.grants.filter((grant) => grant.token === token)
      if (grants.reduce((sum, grant) => sum + grant.permits, 0) < count) return false
      let left = count
      for (const grant of grants) {
        const taken = Math.min(left, grant.permits)
        grant.permits -= taken
        left -= taken
        if (left === 0) break
      }
      const remaining = held.grants.filter((grant) => grant.permits > 0)
      held.grants.length = 0
      held.grants.push(...remaining)
      if (remaining.length === 0) {
        held.forget()
        holdings.delete(session)
      }
      available += count
      next()
      return true
    }
    /** Takes back an acquisition whose caller gave up: waiting, or granted but never heard of. */
    const cancel = (session: string, token: string) => {
      for (const waiter of waiters) {
        if (waiter.token === token) {
          waiters.delete(waiter)
          // The head may have changed: the waiters behind may fit now.
          next()
          return
        }
      }
      const granted = holdings.get(session)?.grants.find((grant) => grant.token === token)
      if (granted !== undefined) giveBack(session, granted.permits, token)
    }

    return Channel.serve(SemaphoreService, {
      Open: sessions.hold,
      Acquire: ({ permits: count, session, token }) =>
        Effect.suspend(() => {
          if (count < 1) return Effect.fail(invalidCount(`acquire of ${count} permits: at least 1`))
          if (count > permits) {
            return Effect.fail(
              invalidCount(`acquire of ${count} permits from a semaphore of ${permits}: it would wait forever`)
            )
          }
          // A call that arrives after its process was found gone is not served: it would be granted to the dead.
          if (sessions.isGone(session)) return Effect.interrupt
          if (waiters.size === 0 && count <= available) {
            grant(session, token, count)
            return Effect.void
          }
          const waiter: Waiter = { session, token, permits: count, granted: Deferred.makeUnsafe() }
          waiters.add(waiter)
          return Deferred.await(waiter.granted).pipe(
            Effect.onInterrupt(() => Effect.sync(() => cancel(session, token)))
          )
        }),
      Release: ({ permits: count, session, token }) =>
        Effect.suspend(() => {
          if (count < 1) return Effect.fail(invalidCount(`release of ${count} permits: at least 1`))
          if (giveBack(session, count, token)) return Effect.void
          const held = holdings.get(session)?.grants.reduce((sum, grant) => sum + grant.permits, 0) ?? 0
          return Effect.fail(
            new SemaphoreError({
              reason: "NotHeld",
              message: `release of ${count} permits by a process that holds ${held}`
            })
          )
        }),
      Cancel: ({ session, token }) => Effect.sync(() => cancel(session, token)),
      Status: () => Effect.sync(() => ({ available, waiting: waiters.size }))
    }).pipe(Effect.map(wrap))
  })

const acquireToken = (
  semaphore: IpcSemaphore,
  permits: number
): Effect.Effect<string, SemaphoreError | Channel.CallError> =>
  Effect.suspend(() => {
    const session = Session.of(semaphore.handle)
    const token = Endpoints.freshId()
    return Channel.call(semaphore.handle, "Acquire", { session, token, permits }).pipe(
      // The host may have granted them just as the caller gave up: the token lets it take the grant back.
      Effect.onInterrupt(() => Effect.ignore(Channel.call(semaphore.handle, "Cancel", { session, token }))),
      Effect.as(token)
    )
  })

/**
 * Takes `permits` permits (default 1), waiting until they are free (first
 * come, first served). Interrupting the wait (for example with
 * `Effect.timeout`) takes none. Prefer `withPermits`, which always gives
 * them back.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcSemaphore } from "@troupe/core"
 *
 * declare const slots: IpcSemaphore.IpcSemaphore
 * const program = IpcSemaphore.acquire(slots, 2).pipe(Effect.andThen(IpcSemaphore.release(slots, 2)))
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const acquire = (
  semaphore: IpcSemaphore,
  permits = 1
): Effect.Effect<void, SemaphoreError | Channel.CallError> => Effect.asVoid(acquireToken(semaphore, permits))

/**
 * Gives back `permits` permits (default 1) that this process holds; fails
 * with `SemaphoreError` `"NotHeld"` when it holds fewer (Python's
 * `BoundedSemaphore` raises `ValueError`).
 *
 * @example
 * ```ts
 * import { IpcSemaphore } from "@troupe/core"
 *
 * declare const slots: IpcSemaphore.IpcSemaphore
 * const giveBack = IpcSemaphore.release(slots, 1)
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const release = (
  semaphore: IpcSemaphore,
  permits = 1
): Effect.Effect<void, SemaphoreError | Channel.CallError> =>
  Effect.suspend(() => Channel.call(semaphore.handle, "Release", { session: Session.of(semaphore.handle), permits }))

/**
 * Runs `effect` holding `permits` permits, and gives them back however it
 * ends (success, failure or interruption). A waiting `withPermits` can be
 * interrupted.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcSemaphore } from "@troupe/core"
 *
 * declare const slots: IpcSemaphore.IpcSemaphore
 * const limited = IpcSemaphore.withPermits(slots, 1, Effect.log("at most as many at once as there are permits"))
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const withPermits = <A, E, R>(
  semaphore: IpcSemaphore,
  permits: number,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SemaphoreError | Channel.CallError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const token = yield* restore(acquireToken(semaphore, permits))
      const exit = yield* Effect.exit(restore(effect))
      const released = yield* Effect.exit(
        Channel.call(semaphore.handle, "Release", { session: Session.of(semaphore.handle), token, permits })
      )
      // The effect's own failure comes first; a failed release (the semaphore closed) is reported after a success.
      if (Exit.isSuccess(exit)) yield* released
      return yield* exit
    })
  )

/**
 * How many permits are free now.
 *
 * @example
 * ```ts
 * import { IpcSemaphore } from "@troupe/core"
 *
 * declare const slots: IpcSemaphore.IpcSemaphore
 * const free = IpcSemaphore.available(slots)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const available = (semaphore: IpcSemaphore): Effect.Effect<number, Channel.CallError> =>
  Effect.map(status(semaphore), (now) => now.available)

/**
 * How many permits are free now, and how many callers wait for some.
 *
 * @example
 * ```ts
 * import { IpcSemaphore } from "@troupe/core"
 *
 * declare const slots: IpcSemaphore.IpcSemaphore
 * const now = IpcSemaphore.status(slots)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const status = (
  semaphore: IpcSemaphore
): Effect.Effect<{ readonly available: number; readonly waiting: number }, Channel.CallError> =>
  Channel.call(semaphore.handle, "Status", undefined)
