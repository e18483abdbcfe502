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
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import type { Codable } from "./internal/wire/codec.ts"
import * as Codec from "./internal/wire/codec.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
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

/** A method on the wire: the task's name, then its module. */
const methodOf = (task: Task.Any): string => `${task.name}\n${task.module}`

const findTask = (method: string): Effect.Effect<Task.Any | undefined> => {
  const newline = method.indexOf("\n")
  const name = newline < 0 ? method : method.slice(0, newline)
  const known = Task.find(name)
  if (known !== undefined || newline < 0) return Effect.succeed(known)
  return Effect.promise(() =>
    import(method.slice(newline + 1)).then(
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
        handle: (method, payload) =>
          findTask(method).pipe(
            Effect.flatMap((task) =>
              task === undefined
                ? Effect.succeed({
                    _tag: "Defect" as const,
                    name: "TaskNotFound",
                    message: `the pool's process has no task ${method.split("\n")[0]}`
                  })
                : Codec.runInChild(codableOf(task), payload, (decoded) => pool.apply(task, decoded))
            )
          )
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
 * `pool.apply` in the process that made the handle.
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
 *     Effect.forEach(Array.from({ length: upTo }, (_, i) => i + 1), (n) => PoolHandle.apply(pool, Square, n), {
 *       concurrency: "unbounded"
 *     }).pipe(Effect.map((squares) => squares.reduce((a, b) => a + b, 0)), Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category calls
 */
export const apply = <T extends Task.Any>(
  handle: PoolHandle,
  task: T,
  payload: Task.Payload<T>
): Effect.Effect<Task.Success<T>, Task.Error<T> | PoolCallError | ChannelError> =>
  Effect.suspend(() => ParentLink.callWith("pool", handle.endpoint, methodOf(task), codableOf(task), payload)) as any
