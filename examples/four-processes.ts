/**
 * Python's second multiprocessing exercise: four processes each print their
 * number; the parent starts all four, then joins all four.
 *
 *     node examples/four-processes.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Process, Task } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Schema } from "effect"

export const PrintNumber = Task.make("PrintNumber", {
  payload: Schema.Int,
  handler: (n) => Console.log(`Process ${n}: ${n}`)
})

if (import.meta.main) {
  const main = Effect.gen(function* () {
    const children = yield* Effect.forEach([1, 2, 3, 4], (n) => Process.start(PrintNumber, n))
    yield* Effect.forEach(children, (child) => child.join)
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
