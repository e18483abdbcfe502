/**
 * The two sides of `ipcPipe.ts`'s rally over an `IpcPipe` of numbers: the
 * server sends `n` and waits for `n + 1`, `total` times; the answerer
 * answers each number with the next. Each returns its pid.
 */
import { IpcPipe, Task } from "@troupe/core"
import { Effect, Schema } from "effect"

export const RallyEnd = IpcPipe.schema(Schema.Number, Schema.Number)

export const Serve = Task.make("bench/pipeRally/Serve", {
  payload: { end: RallyEnd, total: Schema.Int },
  success: Schema.Int,
  handler: ({ end, total }) => Effect.as(serve(end, total), process.pid).pipe(Effect.orDie)
})

export const Answer = Task.make("bench/pipeRally/Answer", {
  payload: { end: RallyEnd, total: Schema.Int },
  success: Schema.Int,
  handler: ({ end, total }) =>
    Effect.gen(function* () {
      for (let i = 0; i < total; i++) yield* IpcPipe.send(end, (yield* IpcPipe.receive(end)) + 1)
      return process.pid
    }).pipe(Effect.orDie)
})

/** `total` round trips from `end`: send `n`, receive `n + 1`. */
export const serve = (end: IpcPipe.End<number, number>, total: number) =>
  Effect.gen(function* () {
    let n = 0
    for (let i = 0; i < total; i++) {
      yield* IpcPipe.send(end, n)
      n = yield* IpcPipe.receive(end)
    }
    if (n !== total) return yield* Effect.die(new Error(`rally ended at ${n}, not ${total}`))
  })
