/**
 * A map the parent hosts for every process below it: Python's
 * `multiprocessing.Manager().dict()`, typed by a key Schema and a value
 * Schema.
 *
 * `make` creates it in the parent, inside a `Scope`; `schema` is the Schema
 * of the map itself, to pass it to a child in a task's payload or an actor's
 * message. Every operation is an Effect that works the same in the parent,
 * a child and a grandchild: `get`, `set`, `remove`, `has`, `size`, `keys`,
 * `entries`, `clear`, and the atomic read-modify-write `update` and
 * `modify`.
 *
 * A function cannot cross processes, so `update` and `modify` run the
 * function in the caller: they read the key's value and its version, compute
 * the new value, and write it only if the key was not written meanwhile
 * (compare-and-set); if it was, they read again and retry. Every write of
 * any key takes a fresh version from one counter, so a key written and
 * removed in between is never mistaken for the one that was read.
 *
 * Keys are compared by their encoded form (the key Schema's JSON encoding),
 * so two structurally equal keys are the same key in every process.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Types from "effect/Types"
import * as Channel from "./Channel.ts"
import * as Hosted from "./internal/ipc/hosted.ts"
import { expected } from "./internal/options.ts"

const TypeId = "~@troupe/core/SharedMap" as const

/**
 * A map hosted by the parent, usable from any process it was passed to.
 *
 * @since 0.1.0
 * @category models
 */
export interface SharedMap<in out K, in out V> {
  readonly [TypeId]: {
    readonly _K: Types.Invariant<K>
    readonly _V: Types.Invariant<V>
  }
  /** The hosted service behind the map: what travels to other processes. */
  readonly handle: Channel.Handle<Channel.Any>
}

const buildService = (key: Schema.Top, value: Schema.Top) => {
  const entry = Schema.Struct({ key, value })
  return Channel.make("troupe/SharedMap", {
    Get: { payload: key, success: Schema.Option(value) },
    Versioned: { payload: key, success: Schema.Struct({ value: Schema.Option(value), version: Schema.Number }) },
    CompareAndSet: {
      payload: Schema.Struct({ key, value, version: Schema.Number }),
      success: Schema.Boolean
    },
    Set: { payload: entry },
    Remove: { payload: key, success: Schema.Boolean },
    Has: { payload: key, success: Schema.Boolean },
    Size: { success: Schema.Number },
    Keys: { success: Schema.Array(key) },
    Entries: { success: Schema.Array(Schema.Tuple([key, value])) },
    Clear: {}
  })
}

type MapService = ReturnType<typeof buildService>

const serviceOf = Hosted.serviceMemo((key: Schema.Top) =>
  Hosted.serviceMemo((value: Schema.Top) => buildService(key, value))
)

const variance = { _K: (k: unknown) => k, _V: (v: unknown) => v }

const wrap = <K, V>(handle: Channel.Handle<Channel.Any>): SharedMap<K, V> => ({
  [TypeId]: variance as SharedMap<K, V>[typeof TypeId],
  handle
})

/**
 * Whether `u` is a `SharedMap`.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * SharedMap.isSharedMap({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isSharedMap = (u: unknown): u is SharedMap<unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * The Schema of a map with these key and value Schemas, to pass it to a
 * child in a task's payload or an actor's message. It travels as its
 * service's handle.
 *
 * @example
 * ```ts
 * import { Effect, Option, Schema } from "effect"
 * import { SharedMap, Task } from "@troupe/core"
 *
 * export const Count = Task.make("Count", {
 *   payload: { counts: SharedMap.schema(Schema.String, Schema.Int), word: Schema.String },
 *   handler: ({ counts, word }) =>
 *     SharedMap.update(counts, word, (n) => Option.getOrElse(n, () => 0) + 1).pipe(Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema = <K extends Schema.Top, V extends Schema.Top>(
  key: K,
  value: V
): Schema.Codec<SharedMap<K["Type"], V["Type"]>, Channel.HandleEncoded> =>
  Hosted.handleSchema({
    service: serviceOf(key)(value),
    is: (u): u is SharedMap<K["Type"], V["Type"]> => isSharedMap(u),
    wrap: (handle) => wrap(handle),
    unwrap: (map) => map.handle as Channel.Handle<MapService>
  })

/** JSON text of an encoded key with every object's fields in sorted order: equal keys give equal text, whatever their field order. */
const canonicalJson = (value: unknown): string => {
  if (typeof value !== "object" || value === null) return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const record = value as Record<string, unknown>
  const fields: Array<string> = []
  for (const field of Object.keys(record).sort()) {
    if (record[field] !== undefined) fields.push(`${JSON.stringify(field)}:${canonicalJson(record[field])}`)
  }
  return `{${fields.join(",")}}`
}

/**
 * Creates an empty map in this process, hosted until the scope closes
 * (calls after that fail with `ChannelError`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { SharedMap } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const ages = yield* SharedMap.make(Schema.String, Schema.Int)
 *   yield* SharedMap.set(ages, "ada", 36)
 *   return yield* SharedMap.get(ages, "ada") // Option.some(36)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K extends Schema.Top, V extends Schema.Top>(
  key: K,
  value: V
): Effect.Effect<SharedMap<K["Type"], V["Type"]>, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (!Schema.isSchema(key) || !Schema.isSchema(value)) {
      return Effect.die(
        expected("SharedMap.make", "a key Schema and a value Schema", Schema.isSchema(key) ? value : key)
      )
    }
    const encodeKey = Schema.encodeSync(Schema.toCodecJson(key) as unknown as Schema.Codec<unknown, unknown>)
    const idOf = (k: unknown) => canonicalJson(encodeKey(k))
    const entries = new Map<string, { readonly key: unknown; value: unknown; version: number }>()
    // One counter for every write of every key: a version is never reused, so compare-and-set cannot be fooled.
    let clock = 0
    const write = (k: unknown, v: unknown) => {
      entries.set(idOf(k), { key: k, value: v, version: ++clock })
    }
    const versionOf = (k: unknown) => entries.get(idOf(k))?.version ?? 0
    return Channel.serve(serviceOf(key)(value), {
      Get: (k) => Effect.sync(() => Option.map(Option.fromUndefinedOr(entries.get(idOf(k))), (e) => e.value)),
      Versioned: (k) =>
        Effect.sync(() => {
          const found = entries.get(idOf(k))
          return found === undefined
            ? { value: Option.none(), version: 0 }
            : { value: Option.some(found.value), version: found.version }
        }),
      CompareAndSet: ({ key: k, value: v, version }) =>
        Effect.sync(() => {
          if (versionOf(k) !== version) return false
          write(k, v)
          return true
        }),
      Set: ({ key: k, value: v }) => Effect.sync(() => write(k, v)),
      Remove: (k) => Effect.sync(() => entries.delete(idOf(k))),
      Has: (k) => Effect.sync(() => entries.has(idOf(k))),
      Size: () => Effect.sync(() => entries.size),
      Keys: () => Effect.sync(() => Array.from(entries.values(), (e) => e.key)),
      Entries: () => Effect.sync(() => Array.from(entries.values(), (e) => [e.key, e.value] as const)),
      Clear: () => Effect.sync(() => entries.clear())
    }).pipe(Effect.map((handle) => wrap<K["Type"], V["Type"]>(handle)))
  })

const call = <A>(map: SharedMap<any, any>, method: keyof Channel.Methods<MapService> & string, payload?: unknown) =>
  Channel.call(map.handle as Channel.Handle<MapService>, method, payload as never) as Effect.Effect<
    A,
    Channel.CallError
  >

/**
 * The value of `key`, if the map has it.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const age = SharedMap.get(ages, "ada") // Effect<Option<number>, ...>
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const get = <K, V>(map: SharedMap<K, V>, key: K): Effect.Effect<Option.Option<V>, Channel.CallError> =>
  call(map, "Get", key)

/**
 * Sets `key` to `value`.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const program = SharedMap.set(ages, "ada", 36)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const set = <K, V>(map: SharedMap<K, V>, key: K, value: V): Effect.Effect<void, Channel.CallError> =>
  call(map, "Set", { key, value })

/**
 * Removes `key`; succeeds with whether the map had it.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const removed = SharedMap.remove(ages, "ada") // Effect<boolean, ...>
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const remove = <K, V>(map: SharedMap<K, V>, key: K): Effect.Effect<boolean, Channel.CallError> =>
  call(map, "Remove", key)

/**
 * Whether the map has `key`.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const known = SharedMap.has(ages, "ada")
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const has = <K, V>(map: SharedMap<K, V>, key: K): Effect.Effect<boolean, Channel.CallError> =>
  call(map, "Has", key)

/**
 * The number of keys.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const count = SharedMap.size(ages)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const size = <K, V>(map: SharedMap<K, V>): Effect.Effect<number, Channel.CallError> => call(map, "Size")

/**
 * The keys, in the order they were first set.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const names = SharedMap.keys(ages)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const keys = <K, V>(map: SharedMap<K, V>): Effect.Effect<ReadonlyArray<K>, Channel.CallError> =>
  call(map, "Keys")

/**
 * The `[key, value]` pairs, in the order the keys were first set.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const pairs = SharedMap.entries(ages)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const entries = <K, V>(map: SharedMap<K, V>): Effect.Effect<ReadonlyArray<readonly [K, V]>, Channel.CallError> =>
  call(map, "Entries")

/**
 * Removes every key.
 *
 * @example
 * ```ts
 * import { SharedMap } from "@troupe/core"
 *
 * declare const ages: SharedMap.SharedMap<string, number>
 * const program = SharedMap.clear(ages)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const clear = <K, V>(map: SharedMap<K, V>): Effect.Effect<void, Channel.CallError> => call(map, "Clear")

/**
 * Atomically replaces the value of `key` with `f` of it (`None` when the
 * map does not have it) and succeeds with what `f` returned first.
 *
 * **Details**
 *
 * `f` runs in the caller's process: it may run more than once when other
 * processes write the same key at the same time (each write it loses to is
 * re-read), so it should have no side effects. The write that lands is
 * computed from the value it replaces.
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { SharedMap } from "@troupe/core"
 *
 * declare const tickets: SharedMap.SharedMap<string, number>
 * // Takes the next ticket number of a queue, from any process.
 * const next = SharedMap.modify(tickets, "desk-1", (n) => {
 *   const current = Option.getOrElse(n, () => 0)
 *   return [current, current + 1] as const
 * })
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const modify = <K, V, A>(
  map: SharedMap<K, V>,
  key: K,
  f: (current: Option.Option<V>) => readonly [A, V]
): Effect.Effect<A, Channel.CallError> =>
  Effect.gen(function* () {
    for (;;) {
      const read = yield* call<{ readonly value: Option.Option<V>; readonly version: number }>(map, "Versioned", key)
      const [result, value] = f(read.value)
      if (yield* call<boolean>(map, "CompareAndSet", { key, value, version: read.version })) return result
    }
  })

/**
 * Atomically replaces the value of `key` with `f` of it (`None` when the
 * map does not have it). Like `modify`, `f` runs in the caller and may run
 * more than once.
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { SharedMap } from "@troupe/core"
 *
 * declare const counts: SharedMap.SharedMap<string, number>
 * const increment = SharedMap.update(counts, "hits", (n) => Option.getOrElse(n, () => 0) + 1)
 * ```
 *
 * @since 0.1.0
 * @category setters
 */
export const update = <K, V>(
  map: SharedMap<K, V>,
  key: K,
  f: (current: Option.Option<V>) => V
): Effect.Effect<void, Channel.CallError> => modify(map, key, (current) => [undefined, f(current)] as const)
