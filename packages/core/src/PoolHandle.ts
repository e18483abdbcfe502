/**
 * A pool that travels: a task (or an actor) in a child submits tasks to a
 * pool its parent passed it, through the channel to the parent.
 *
 * The parent makes a handle of one of its pools with `make`, inside a
 * `Scope`, and sends it in a payload or a message (its Schema is `schema`).
 * In the child, `apply` encodes the payload with the task's Schema, the
 * parent runs `pool.apply` with it, and the result or typed error comes back
 * decoded, with every `PoolCallError` as it is in the parent. Interrupting
 * the caller interrupts the parent's call, and so the run.
 *
 * The parent finds the task by its name, importing its module first when
 * it has not loaded it. A task that waits for work it submitted to its own
 * pool holds a worker while it waits: give the pool a worker to spare, or
 * submit to another pool. With one to spare a fan-out of any width
 * finishes, since the parent never prefetches what a child submits: it
 * waits in the pool's queue, never in a worker behind the task that waits.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import { durationMillis } from "./internal/options.ts"
import { validateCall } from "./internal/pool/poolOptions.ts"
import type { Codable } from "./internal/wire/codec.ts"
import * as Codec from "./internal/wire/codec.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
import type { Reply } from "./internal/wire/frame.ts"
import * as ParentLink from "./internal/wire/parentLink.ts"
import type * as Pool from "./Pool.ts"
import * as Task from "./Task.ts"
import {
  ArgumentEncodeError,
  type ChannelError,
  InitializerError,
  InvalidOption,
  PayloadTooLarge,
  type PoolCallError,
  PoolShuttingDown,
  RemoteDefect,
  ReplyValidationError,
  RequestValidationError,
  RestartIntensityExceeded,
  ResultEncodeError,
  ShutdownError,
  SpawnError,
  TaskTimeout,
  WorkerCrashed
} from "./TroupeError.ts"

const TypeId = "~@troupe/core/PoolHandle" as const

/**
 * A handle to a pool of the process that made it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolHandle {
  readonly [TypeId]: typeof TypeId
  /** The id of the pool's endpoint in the process that made the handle. */
  readonly endpoint: string
}

const PoolCallErrorSchema = Schema.Union([
  InvalidOption,
  PayloadTooLarge,
  SpawnError,
  RemoteDefect,
  ResultEncodeError,
  ReplyValidationError,
  RequestValidationError,
  ArgumentEncodeError,
  WorkerCrashed,
  TaskTimeout,
  PoolShuttingDown,
  ShutdownError,
  InitializerError,
  RestartIntensityExceeded
])

const codables = new WeakMap<Task.Any, Codable>()

/** A task's codec view through a handle: its reply carries every `PoolCallError` too. */
const codableOf = (task: Task.Any): Codable => {
  let codable = codables.get(task)
  if (codable === undefined) {
    codable = {
      name: task.name,
      payloadSchema: task.payloadSchema,
      successSchema: task.successSchema,
      errorSchema: Schema.Union([task.errorSchema, PoolCallErrorSchema])
    }
    codables.set(task, codable)
  }
  return codable
}

/**
 * A method on the wire: the task's name, then its module, then the call's
 * options as JSON when it has any (`timeout` in milliseconds, or
 * `"Infinity"`), which the pool checks as it checks its own callers'.
 */
const methodOf = (task: Task.Any, options: Pool.CallOptions | undefined): string => {
  const wire: { retries?: number; timeout?: number | "Infinity" } = {}
  if (options?.retries !== undefined) wire.retries = options.retries
  if (options?.timeout !== undefined) {
    const ms = durationMillis(options.timeout)
    wire.timeout = Number.isFinite(ms) ? ms : "Infinity"
  }
  const head = `${task.name}\n${task.module}`
  return wire.retries === undefined && wire.timeout === undefined ? head : `${head}\n${JSON.stringify(wire)}`
}

/** A method's parts; `options` is `undefined` when the child sent none, `null` when they are not a JSON object. */
const parseMethod = (
  method: string
): {
  readonly name: string
  readonly module: string | undefined
  readonly options: Pool.CallOptions | null | undefined
} => {
  const [name = "", module, options] = method.split("\n", 3)
  if (options === undefined) return { name, module, options: undefined }
  let parsed: unknown
  try {
    parsed = JSON.parse(options)
  } catch {
    return { name, module, options: null }
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { name, module, options: null }
  const { retries, timeout } = parsed as Record<string, unknown>
  return { name, module, options: { retries: retries as number, timeout: timeout as Duration.Input } }
}

const defect = (name: string, message: string): Reply => ({ _tag: "Defect", name, message })

const findTask = (name: string, module: string | undefined): Effect.Effect<Task.Any | undefined> => {
  const known = Task.find(name)
  if (known !== undefined || module === undefined) return Effect.succeed(known)
  return Effect.promise(() =>
    import(module).then(
      () => Task.find(name),
      () => undefined
    )
  )
}

/**
 * Makes a handle of `pool` for children, valid until the scope closes (then
 * their calls fail with `ChannelError` `ServiceClosed`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool, PoolHandle } from "@troupe/core"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* Pool.make({ size: 4 })
 *   const handle = yield* PoolHandle.make(pool)
 *   // send `handle` to a child inside a payload whose Schema has `PoolHandle.schema`
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (pool: Pool.Service): Effect.Effect<PoolHandle, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      Endpoints.register({
        name: "pool",
        handle: (method, payload): Effect.Effect<Reply> => {
          const { name, module, options } = parseMethod(method)
          if (options === null) {
            return Effect.succeed(defect("BadCallOptions", `the call's options for task ${name} are not a JSON object`))
          }
          return findTask(name, module).pipe(
            Effect.flatMap((task) =>
              task === undefined
                ? Effect.succeed(defect("TaskNotFound", `the pool's process has no task ${name}`))
                : Codec.runInChild(codableOf(task), payload, (decoded) => pool.apply(task, decoded, options))
            )
          )
        }
      })
    ),
    (endpoint) => Effect.sync(() => Endpoints.unregister(endpoint))
  ).pipe(Effect.map((endpoint): PoolHandle => ({ [TypeId]: TypeId, endpoint })))

/**
 * The Schema of a pool handle, for payloads and messages.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Codec<PoolHandle, { readonly endpoint: string }> = Schema.Struct({
  endpoint: Schema.String
}).pipe(
  Schema.decodeTo(
    Schema.declare((u): u is PoolHandle => typeof u === "object" && u !== null && TypeId in u),
    SchemaTransformation.transform({
      decode: ({ endpoint }): PoolHandle => ({ [TypeId]: TypeId, endpoint }),
      encode: (handle) => ({ endpoint: handle.endpoint })
    })
  )
) as any

/**
 * Runs a task on the pool behind `handle`, from any process: as
 * `pool.apply` in the process that made the handle, with the same per-call
 * `options` (`retries`, `timeout`), checked here: a bad one fails with
 * `InvalidOption` before anything is sent.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { PoolHandle, Task } from "@troupe/core"
 *
 * export const Square = Task.make("Square", {
 *   payload: Schema.Number,
 *   success: Schema.Number,
 *   handler: (n) => Effect.succeed(n * n)
 * })
 *
 * export const SumOfSquares = Task.make("SumOfSquares", {
 *   payload: { pool: PoolHandle.schema, upTo: Schema.Int },
 *   success: Schema.Number,
 *   handler: ({ pool, upTo }) =>
 *     Effect.forEach(
 *       Array.from({ length: upTo }, (_, i) => i + 1),
 *       (n) => PoolHandle.apply(pool, Square, n, { timeout: "5 seconds" }),
 *       { concurrency: "unbounded" }
 *     ).pipe(Effect.map((squares) => squares.reduce((a, b) => a + b, 0)), Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category calls
 */
export const apply = <T extends Task.Any>(
  handle: PoolHandle,
  task: T,
  payload: Task.Payload<T>,
  options?: Pool.CallOptions
): Effect.Effect<Task.Success<T>, Task.Error<T> | PoolCallError | ChannelError> =>
  Effect.suspend(() => {
    const invalid = validateCall(options)
    if (invalid !== undefined) return Effect.fail(invalid)
    return ParentLink.callWith("pool", handle.endpoint, methodOf(task, options), codableOf(task), payload)
  }) as any
