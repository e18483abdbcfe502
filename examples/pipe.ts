/**
 * Python's `Pipe()`: a parent and a child process talk both ways over one
 * duplex pipe. The parent asks, the child answers each message in upper
 * case, says goodbye and exits; the parent's stream of answers then ends by
 * itself, and a further `receive` fails with a typed `PipeClosed` instead of
 * waiting forever.
 *
 *     node examples/pipe.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { IpcPipe, Process, Task } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Schema, Stream } from "effect"

// Defined at the top level: the child imports this file to find the task.
// The child's end receives questions (strings) and sends answers (strings).
export const Answer = Task.make("Answer", {
  payload: { end: IpcPipe.schema(Schema.String, Schema.String), questions: Schema.Int },
  success: Schema.Void,
  handler: ({ end, questions }) =>
    Effect.gen(function* () {
      for (let i = 0; i < questions; i++) {
        const question = yield* IpcPipe.receive(end)
        yield* IpcPipe.send(end, question.toUpperCase())
      }
      yield* IpcPipe.send(end, `goodbye from child ${process.pid}`)
      // Returning ends the child process: the parent's end learns it.
    }).pipe(Effect.orDie)
})

if (import.meta.main) {
  const main = Effect.gen(function* () {
    const [parentEnd, childEnd] = yield* IpcPipe.make(Schema.String, Schema.String)
    yield* Process.start(Answer, { end: childEnd, questions: 3 })
    for (const question of ["hello", "how are you", "what is a pipe"]) {
      yield* IpcPipe.send(parentEnd, question)
    }
    // The stream ends when the child has exited and everything it sent was read.
    yield* IpcPipe.stream(parentEnd).pipe(Stream.runForEach((answer) => Console.log(`parent received: ${answer}`)))
    const after = yield* IpcPipe.receive(parentEnd).pipe(Effect.flip)
    yield* Console.log(
      `the child exited; receive now fails with ${after._tag} (${"reason" in after ? after.reason : ""})`
    )
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
