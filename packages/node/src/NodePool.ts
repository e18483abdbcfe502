/**
 * Troupe's pool on Node.js: forked processes by default, worker threads on
 * request, behind the same API.
 *
 * `NodePool.layer` provides the core `Pool` service with the right
 * `Transport` and Node's defaults (`size` is `os.availableParallelism()`, at most `Pool.maxPoolSize`).
 * Pick processes for isolation (a crash, a leak or an out-of-memory error
 * stays in one child; native code cannot take the parent down) and threads
 * for start-up time and cheap messages when the work is trusted.
 *
 * @since 0.1.0
 */

import { availableParallelism } from "node:os"
import { oneOf } from "@troupe/core/Check"
import * as Pool from "@troupe/core/Pool"
import type * as Transport from "@troupe/core/Transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeProcess from "./NodeProcess.ts"
import * as NodeThread from "./NodeThread.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Pool.Options {
  /** `"process"` (default): forked child processes; `"thread"`: worker threads. */
  readonly backend?: "process" | "thread" | undefined
}

/**
 * The `Transport` for a backend.
 *
 * @since 0.1.0
 * @category layers
 */
export const transport = (backend: "process" | "thread" = "process"): Layer.Layer<Transport.Transport> =>
  backend === "thread" ? NodeThread.layer : NodeProcess.layer

/**
 * A pool of Node workers as a Layer.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Pool, Task } from "@troupe/core"
 * import { NodePool } from "@troupe/node"
 *
 * export const Square = Task.make("Square", { payload: Schema.Number, success: Schema.Number, handler: (n) => Effect.succeed(n * n) })
 *
 * if (import.meta.main) {
 *   const squares = Pool.map(Square, [1, 2, 3, 4, 5]).pipe(Effect.provide(NodePool.layer({ size: 4 })))
 *   Effect.runPromise(squares).then(console.log) // [1, 4, 9, 16, 25]
 * }
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (given: Options = {}): Layer.Layer<Pool.Pool, Layer.Error<ReturnType<typeof Pool.layer>>> => {
  // `null`, from an untyped caller, is no options.
  const options: Options = given ?? {}
  const { backend } = options
  const invalid = oneOf("backend", backend, ["process", "thread"])
  if (invalid !== undefined) return Layer.effect(Pool.Pool, Effect.fail(invalid))
  return Pool.layer({ ...options, size: options.size ?? Math.min(availableParallelism(), Pool.maxPoolSize) }).pipe(
    Layer.provide(transport(backend))
  )
}
