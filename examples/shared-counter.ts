/**
 * Python's `Value` and `Lock` across processes: four processes each add 1
 * to a shared counter 1,000 times, reading and writing it under a lock the
 * parent hosts; the parent prints `counter=4000`.
 *
 * With `--kill`, the second process SIGKILLs itself while it holds the lock
 * (halfway, between its read and its write): the lock is released, the next
 * process to take it learns it was abandoned, and the program still ends,
 * printing the counter it reached and `abandoned=1`.
 *
 *     node examples/shared-counter.ts
 *     node examples/shared-counter.ts --kill
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { IpcLock, Process, SharedRef, Task } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Exit, Schema } from "effect"

/** Adds 1 to `counter` `times` times under `lock`; dies holding the lock at round `dieAt`. How many abandoned locks it took. */
export const AddUnderLock = Task.make("AddUnderLock", {
  payload: {
    lock: IpcLock.schema,
    counter: SharedRef.schema(Schema.Int),
    times: Schema.Int,
    dieAt: Schema.optional(Schema.Int)
  },
  success: Schema.Int,
  handler: ({ counter, dieAt, lock, times }) =>
    Effect.gen(function* () {
      let abandoned = 0
      for (let round = 0; round < times; round++) {
        yield* IpcLock.withLock(lock, (held) =>
          Effect.gen(function* () {
            if (held.abandoned) abandoned++
            const n = yield* SharedRef.get(counter)
            if (round === dieAt) process.kill(process.pid, "SIGKILL")
            yield* SharedRef.set(counter, n + 1)
          })
        )
      }
      return abandoned
    }).pipe(Effect.orDie)
})

if (import.meta.main) {
  const kill = process.argv.includes("--kill")
  const main = Effect.gen(function* () {
    const lock = yield* IpcLock.make()
    const counter = yield* SharedRef.make(Schema.Int, 0)
    const children = yield* Effect.forEach([0, 1, 2, 3], (n) =>
      Process.start(AddUnderLock, { lock, counter, times: 1000, dieAt: kill && n === 1 ? 500 : undefined })
    )
    const exits = yield* Effect.forEach(children, (child) => Effect.exit(child.result))
    let abandoned = 0
    for (const exit of exits) if (Exit.isSuccess(exit)) abandoned += exit.value
    // The lock may have been abandoned after the others finished: the parent takes it once too.
    abandoned += yield* IpcLock.withLock(lock, (held) => Effect.succeed(held.abandoned ? 1 : 0))
    const total = yield* SharedRef.get(counter)
    yield* Console.log(kill ? `counter=${total} abandoned=${abandoned}` : `counter=${total}`)
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
