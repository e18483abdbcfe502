/**
 * Python's first multiprocessing exercise: one child process prints a
 * message, the parent joins it and carries on.
 *
 *     node examples/process.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Process, Task } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Schema } from "effect"

// Defined at the top level: the child imports this file to find the task.
export const PrintMessage = Task.make("PrintMessage", {
  payload: Schema.String,
  handler: (message) => Console.log(message)
})

// The main part runs only in the parent (the child imports this file as a module).
if (import.meta.main) {
  const main = Effect.gen(function* () {
    const child = yield* Process.start(PrintMessage, "This is a message from a multiprocessing.")
    yield* child.join
    yield* Console.log("Main process continues.")
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
