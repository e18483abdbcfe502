/**
 * Python's fifth multiprocessing exercise: a pool of four workers maps
 * `square` over a list.
 *
 *     node examples/pool-squares.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Pool, Task } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Console, Effect, Schema } from "effect"

export const Square = Task.make("Square", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(n * n)
})

if (import.meta.main) {
  const main = Effect.gen(function* () {
    const squares = yield* Pool.map(Square, [1, 2, 3, 4, 5])
    yield* Console.log(`Squared numbers: ${JSON.stringify(squares).replaceAll(",", ", ")}`)
  })
  NodeRuntime.runMain(main.pipe(Effect.provide(NodePool.layer({ size: 4 }))))
}
