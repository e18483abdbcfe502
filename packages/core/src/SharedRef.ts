/**
 * A value shared by processes (Python's `multiprocessing.Value`), typed by
 * a Schema, hosted by the parent that made it and usable from the parent,
 * its children and their children.
 *
 * Functions cannot cross processes, so `update` and `modify` run their
 * function in the caller, on a copy: they read the value with its version,
 * compute the next value, and ask the host to store it only if the version
 * has not moved (compare-and-set); when another process wrote in between,
 * they run the function again on the newer value. The function may so run
 * more than once, and must have no side effects. Every write is atomic: a
 * process that dies in the middle of an update has written nothing.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { expected } from "./internal/options.ts"

const TypeId = "~@troupe/core/SharedRef" as const

const serviceOf = Hosted.serviceMemo((value: Schema.Top) => {
  const Versioned = Schema.Struct({ version: Schema.Int, value })
  return Channel.make("SharedRef", {
    Get: { success: Versioned },
    Set: { payload: value },
    CompareAndSet: {
      payload: Versioned,
      success: Schema.Struct({ swapped: Schema.Boolean, version: Schema.Int, value })
    }
  })
})

type RefService = ReturnType<typeof serviceOf>

/**
 * A value of type `A` shared by processes.
 *
 * @since 0.1.0
 * @category models
 */
export interface SharedRef<in out A> {
  readonly [TypeId]: { readonly _A: (a: A) => A }
  /** @internal */
  readonly handle: Channel.Handle<RefService>
}

const variance: { readonly _A: (a: any) => any } = { _A: (a) => a }

/**
 * Whether `u` is a `SharedRef`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSharedRef = (u: unknown): u is SharedRef<unknown> => typeof u === "object" && u !== null && TypeId in u

const wrap = <A>(handle: Channel.Handle<RefService>): SharedRef<A> => ({ [TypeId]: variance, handle })

/**
 * The Schema of a shared value of `value`'s type, to put it in a task's
 * payload or an actor's message (give the same `value` Schema as `make`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { SharedRef, Task } from "@troupe/core"
 *
 * export const AddOne = Task.make("AddOne", {
 *   payload: { counter: SharedRef.schema(Schema.Int) },
 *   success: Schema.Int,
 *   handler: ({ counter }) => SharedRef.updateAndGet(counter, (n) => n + 1).pipe(Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema = <A, I>(value: Schema.Codec<A, I>): Schema.Codec<SharedRef<A>, Channel.HandleEncoded> =>
  Hosted.handleSchema({
    service: serviceOf(value),
    is: (u): u is SharedRef<A> => isSharedRef(u),
    wrap: (handle) => wrap<A>(handle),
    unwrap: (ref) => ref.handle
  })

/**
 * Makes a shared value, typed by `value` and starting at `initial`, hosted
 * by this process until the scope closes. An `initial` that `value` does not
 * accept is a defect.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { SharedRef } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const counter = yield* SharedRef.make(Schema.Int, 0)
 *   // pass `counter` to children in a payload whose Schema has `SharedRef.schema(Schema.Int)`
 *   return yield* SharedRef.updateAndGet(counter, (n) => n + 1)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(value: Schema.Codec<A, I>, initial: A): Effect.Effect<SharedRef<A>, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (!Schema.isSchema(value)) return Effect.die(expected("SharedRef.make", "a Schema", value))
    // Served as it is to every `get`: a value its Schema refuses would fail each reader, far from the mistake.
    if (!Schema.is(value)(initial)) {
      return Effect.die(expected("SharedRef.make", "an initial value its Schema accepts", initial))
    }
    let current = { version: 0, value: initial as unknown }
    return Channel.serve(serviceOf(value), {
      Get: () => Effect.sync(() => current),
      Set: (next) =>
        Effect.sync(() => {
          current = { version: current.version + 1, value: next }
        }),
      CompareAndSet: ({ value: next, version }) =>
        Effect.sync(() => {
          if (version !== current.version) return { swapped: false, ...current }
          current = { version: version + 1, value: next }
          return { swapped: true, ...current }
        })
    }).pipe(Effect.map((handle) => wrap<A>(handle)))
  })

/**
 * Reads the value.
 *
 * @example
 * ```ts
 * import { SharedRef } from "@troupe/core"
 *
 * declare const counter: SharedRef.SharedRef<number>
 * const value = SharedRef.get(counter)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const get = <A>(self: SharedRef<A>): Effect.Effect<A, Channel.CallError> =>
  Effect.map(Channel.call(self.handle, "Get", undefined), ({ value }) => value as A)

/**
 * Writes the value (whatever it was).
 *
 * @example
 * ```ts
 * import { SharedRef } from "@troupe/core"
 *
 * declare const counter: SharedRef.SharedRef<number>
 * const reset = SharedRef.set(counter, 0)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const set = <A>(self: SharedRef<A>, value: A): Effect.Effect<void, Channel.CallError> =>
  Channel.call(self.handle, "Set", value)

/**
 * Atomically replaces the value by `f(value)` and returns `b`, where
 * `[b, next] = f(value)`. `f` runs in the caller, once per attempt (again
 * when another process wrote in between): it must have no side effects.
 *
 * @example
 * ```ts
 * import { SharedRef } from "@troupe/core"
 *
 * declare const counter: SharedRef.SharedRef<number>
 * const ticket = SharedRef.modify(counter, (n) => [n, n + 1] as const)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const modify = <A, B>(
  self: SharedRef<A>,
  f: (value: A) => readonly [B, A]
): Effect.Effect<B, Channel.CallError> =>
  Effect.gen(function* () {
    let seen = (yield* Channel.call(self.handle, "Get", undefined)) as { version: number; value: A }
    for (;;) {
      const [result, next] = f(seen.value)
      const outcome = yield* Channel.call(self.handle, "CompareAndSet", { version: seen.version, value: next })
      if (outcome.swapped) return result
      // Another process wrote in between: the host answered with the newer value, try again on it.
      seen = outcome as { version: number; value: A }
    }
  })

/**
 * Atomically replaces the value by `f(value)`.
 *
 * @example
 * ```ts
 * import { SharedRef } from "@troupe/core"
 *
 * declare const counter: SharedRef.SharedRef<number>
 * const increment = SharedRef.update(counter, (n) => n + 1)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const update = <A>(self: SharedRef<A>, f: (value: A) => A): Effect.Effect<void, Channel.CallError> =>
  modify(self, (value) => [undefined, f(value)] as const)

/**
 * Atomically replaces the value by `f(value)` and returns the new value.
 *
 * @example
 * ```ts
 * import { SharedRef } from "@troupe/core"
 *
 * declare const counter: SharedRef.SharedRef<number>
 * const next = SharedRef.updateAndGet(counter, (n) => n + 1)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const updateAndGet = <A>(self: SharedRef<A>, f: (value: A) => A): Effect.Effect<A, Channel.CallError> =>
  modify(self, (value) => {
    const next = f(value)
    return [next, next] as const
  })

/**
 * Atomically replaces the value by `f(value)` and returns the old value.
 *
 * @example
 * ```ts
 * import { SharedRef } from "@troupe/core"
 *
 * declare const counter: SharedRef.SharedRef<number>
 * const previous = SharedRef.getAndUpdate(counter, (n) => n + 1)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const getAndUpdate = <A>(self: SharedRef<A>, f: (value: A) => A): Effect.Effect<A, Channel.CallError> =>
  modify(self, (value) => [value, f(value)] as const)
