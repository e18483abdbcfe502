/**
 * Typed tasks: a name, Schemas for the payload, success and error, and a
 * handler.
 *
 * A task is defined once, at the top level of a module. The parent uses the
 * definition to encode the payload and decode the result; the child imports
 * the same module, finds the task by name and runs its handler. Because both
 * sides share one definition, a call type-checks end to end and every value is
 * validated on both sides of the process boundary.
 *
 * **How the child finds the handler.** `make` remembers the module that called
 * it. A child imports that module (so its top-level code runs again, in the
 * child, as Python's spawn start method re-imports `__main__`), then looks the
 * task up by name. Guard a program's main part with `if (import.meta.main)` so
 * that it runs only in the parent. Pass `module: import.meta.url` to name the
 * module explicitly (needed only when the definition is produced by a helper
 * in another module).
 *
 * **Names are unique.** The child finds a handler by its task's name, so a
 * program may not define two tasks of one name in different modules:
 * `Task.make` throws `DuplicateTaskName` (naming both modules) at the second
 * one, rather than let a call run the other module's handler.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { callerModuleUrl } from "./internal/callsite.ts"
import { assertOneEffect } from "./internal/oneEffect.ts"
import { firstInvalid, nonEmptyString, nonNegativeInteger, positiveDuration, refuse } from "./internal/options.ts"
import { encodePayloadExit } from "./internal/wire/codec.ts"
import { type ArgumentEncodeError, DuplicateTaskName, type RequestValidationError } from "./TroupeError.ts"

const TypeId = "~@troupe/core/Task" as const

/**
 * A task definition shared by the parent and the child.
 *
 * @since 0.1.0
 * @category models
 */
export interface Task<
  Name extends string,
  Payload extends Schema.Top,
  Success extends Schema.Top,
  Error extends Schema.Top
> {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  /** The URL of the module a child imports to find this task. */
  readonly module: string
  readonly payloadSchema: Payload
  readonly successSchema: Success
  readonly errorSchema: Error
  readonly handler: (payload: Payload["Type"]) => Effect.Effect<Success["Type"], Error["Type"]>
  /** How many times a pool runs the task again after its worker crashed; `undefined`: the pool's setting. */
  readonly retries: number | undefined
  /** The default deadline of one run in a pool, from dispatch to a worker. */
  readonly timeout: Duration.Duration | undefined
}

/**
 * Any task, whatever its Schemas.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly module: string
  readonly payloadSchema: Schema.Top
  readonly successSchema: Schema.Top
  readonly errorSchema: Schema.Top
  readonly handler: (payload: any) => Effect.Effect<any, any>
  readonly retries: number | undefined
  readonly timeout: Duration.Duration | undefined
}

/**
 * The decoded payload a task accepts.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Payload<T> = T extends Task<infer _N, infer P, infer _S, infer _E> ? P["Type"] : never

/**
 * The decoded value a task succeeds with.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Success<T> = T extends Task<infer _N, infer _P, infer S, infer _E> ? S["Type"] : never

/**
 * The decoded typed error a task fails with.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Error<T> = T extends Task<infer _N, infer _P, infer _S, infer E> ? E["Type"] : never

/**
 * Returns `true` when the value is a task definition.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTask = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

const registryKey = Symbol.for("@troupe/core/Task/registry")
/**
 * Set by a worker bundle (before any of its code runs) to its own URL: the
 * module its tasks are registered under. A child that could not load its
 * bundle imports the modules themselves, whose definitions then replace the
 * bundle's.
 */
const bundleKey = Symbol.for("@troupe/core/Task/bundle")

const registryHolder = globalThis as { [registryKey]?: Map<string, Any>; [bundleKey]?: string }
if (registryHolder[registryKey] === undefined) registryHolder[registryKey] = new Map()
const registry: Map<string, Any> = registryHolder[registryKey]

/**
 * The task registered under `name` in this process, if a loaded module
 * defines one. Used by the child to find the handler it was asked to run.
 *
 * @since 0.1.0
 * @category lookup
 */
export const find = (name: string): Any | undefined => registry.get(name)

/**
 * Every task registered in this process (by the modules loaded so far).
 *
 * @since 0.1.0
 * @category lookup
 */
export const registered = (): Iterable<Any> => registry.values()

/**
 * Encodes a task's payload as a pool sends it to a worker (the JSON form of
 * its payload Schema), with the checks a pool makes before it sends: a
 * payload its Schema refuses is a `RequestValidationError`, and one that
 * JSON cannot carry (`NaN`, a function, a `Date` under `Schema.Any`) an
 * `ArgumentEncodeError`. For a caller that sends tasks to workers of its
 * own elsewhere (a cluster pool), so that it refuses what a local pool does.
 *
 * @example
 * ```ts
 * import { Exit } from "effect"
 * import { Task } from "@troupe/core"
 * import { Square } from "./tasks.ts"
 *
 * const encoded = Task.encodePayload(Square, 3)
 * if (Exit.isFailure(encoded)) console.log("refused")
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodePayload = (
  task: Any,
  payload: unknown
): Exit.Exit<unknown, RequestValidationError | ArgumentEncodeError> => encodePayloadExit(task, payload)

/**
 * The payload schema of a task made with `payload: P`: `P` itself, or a
 * `Schema.Struct` of it when `P` is a record of fields.
 *
 * @since 0.1.0
 * @category models
 */
export type PayloadSchema<P> = P extends Schema.Struct.Fields ? Schema.Struct<P> : P

/**
 * Defines a task and registers it under its name in the current process.
 *
 * **When to use**
 *
 * Define each task at the top level of a module, never inside the program's
 * main part: the child imports the module to find the task, and code guarded
 * by `if (import.meta.main)` does not run there.
 *
 * **Details**
 *
 * `payload` is a Schema or a record of fields (as in `Rpc.make`); `success`
 * defaults to `Schema.Void` and `error` to `Schema.Never`. The handler
 * receives the decoded payload. Its typed failures travel back to the caller
 * as values of the error Schema; a throw or a defect arrives as a
 * `RemoteDefect`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "@troupe/core"
 *
 * class Negative extends Schema.TaggedError<Negative>()("Negative", { n: Schema.Number }) {}
 *
 * export const SquareRoot = Task.make("SquareRoot", {
 *   payload: { n: Schema.Number },
 *   success: Schema.Number,
 *   error: Negative,
 *   handler: ({ n }) => n < 0 ? Effect.fail(new Negative({ n })) : Effect.succeed(Math.sqrt(n))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  P extends Schema.Top | Schema.Struct.Fields = Schema.Void,
  S extends Schema.Top = Schema.Void,
  E extends Schema.Top = Schema.Never
>(
  name: Name,
  options: {
    readonly payload?: P
    readonly success?: S
    readonly error?: E
    readonly handler: (payload: PayloadSchema<P>["Type"]) => Effect.Effect<S["Type"], E["Type"]>
    readonly module?: string
    /**
     * Crash retries in a pool: run the task again on a live worker when its
     * worker dies while holding it. Only for idempotent work (default 0). A
     * non-negative integer: `make` throws an `InvalidOption` for any other.
     */
    readonly retries?: number
    /**
     * Deadline of one run in a pool, from dispatch to a worker (default:
     * none). It must be over zero: `make` throws an `InvalidOption` for a
     * negative, zero or `NaN` timeout.
     */
    readonly timeout?: Duration.Input
  }
): Task<Name, PayloadSchema<P>, S, E> => {
  if (typeof options !== "object" || options === null) {
    throw refuse("options", "must be an object", options)
  }
  const moduleUrl = options.module === undefined ? callerModuleUrl(make) : () => options.module!
  if (moduleUrl === undefined) {
    throw new globalThis.Error(
      `Task.make("${name}"): cannot tell which module defines this task; pass { module: import.meta.url }`
    )
  }
  const invalid = firstInvalid(
    nonEmptyString("name", name),
    typeof options.handler === "function" ? undefined : refuse("handler", "must be a function", options.handler),
    positiveDuration("timeout", options.timeout),
    nonNegativeInteger("retries", options.retries)
  )
  if (invalid !== undefined) throw invalid
  const payloadSchema = Schema.isSchema(options.payload)
    ? options.payload
    : options.payload === undefined
      ? Schema.Void
      : Schema.Struct(options.payload as Schema.Struct.Fields)
  const successSchema = options.success ?? Schema.Void
  const errorSchema = options.error ?? Schema.Never
  const fields = Schema.isSchema(options.payload) ? [] : Object.values(options.payload ?? {})
  assertOneEffect(`Task.make("${name}")`, moduleUrl, [payloadSchema, ...fields, successSchema, errorSchema])
  const task: Any = {
    [TypeId]: TypeId,
    name,
    // Read on first use: inside a worker bundle, finding the original module reads the bundle's source map.
    get module() {
      return moduleUrl()
    },
    payloadSchema,
    successSchema,
    errorSchema,
    handler: options.handler,
    retries: options.retries,
    timeout: options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)
  }
  const existing = registry.get(name)
  // The same module evaluated again (a bundled copy, then the module itself) replaces its own definition.
  // Modules are compared only for a name defined twice: finding one may read a bundle's source map.
  if (existing !== undefined) {
    const module = task.module
    if (existing.module !== module && existing.module !== registryHolder[bundleKey]) {
      throw new DuplicateTaskName({ task: name, module: existing.module, duplicate: module })
    }
  }
  registry.set(name, task)
  return task as unknown as Task<Name, PayloadSchema<P>, S, E>
}
