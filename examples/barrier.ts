/**
 * Python's `Barrier`: three processes work in phases and wait for each other
 * at the end of every phase. Then the crash semantic Python lacks: one of
 * three processes waiting at a barrier is SIGKILLed, and the others fail
 * with a typed `BrokenBarrier` instead of waiting forever.
 *
 *     node examples/barrier.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Channel, IpcBarrier, Pool, Process, Task, TroupeError } from "@troupe/core"
import { NodePool, NodeProcess } from "@troupe/node"
import { Console, Effect, Exit, Schema } from "effect"

// Defined at the top level: the children import this file to find the task.
export const Phases = Task.make("Phases", {
  payload: { barrier: IpcBarrier.schema, worker: Schema.Int, phases: Schema.Int },
  success: Schema.Int,
  error: TroupeError.BrokenBarrier,
  handler: ({ barrier, phases, worker }) =>
    Effect.gen(function* () {
      let passed = 0
      for (let phase = 1; phase <= phases; phase++) {
        // ... this phase's work ...
        const arrival = yield* IpcBarrier.wait(barrier)
        yield* Console.log(`worker ${worker} passed phase ${phase} (arrived ${arrival + 1} of 3)`)
        passed++
      }
      return passed
    }).pipe(Effect.catchIf(Channel.isCallError, Effect.die))
})

if (import.meta.main) {
  const phases = Effect.gen(function* () {
    const barrier = yield* IpcBarrier.make(3)
    const passed = yield* Pool.map(
      Phases,
      [1, 2, 3].map((worker) => ({ barrier, worker, phases: 3 }))
    )
    return passed.reduce((a, b) => a + b, 0)
  }).pipe(Effect.scoped, Effect.provide(NodePool.layer({ size: 3 })))

  const crash = Effect.gen(function* () {
    const barrier = yield* IpcBarrier.make(3)
    const doomed = yield* Process.start(Phases, { barrier, worker: 1, phases: 1 })
    const survivor = yield* Process.start(Phases, { barrier, worker: 2, phases: 1 })
    // Once both children wait, the first is killed: the third party never needs to come.
    while ((yield* IpcBarrier.waiting(barrier)) < 2) yield* Effect.sleep("20 millis")
    yield* doomed.kill
    const exit = yield* Effect.exit(survivor.result)
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    const brokenForSurvivor = error?._tag === "Fail" && error.error._tag === "BrokenBarrier"
    yield* Console.log(
      `worker 1 was SIGKILLed while waiting; worker 2 got ${brokenForSurvivor ? "BrokenBarrier" : "?"}`
    )
    return brokenForSurvivor && (yield* IpcBarrier.broken(barrier))
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))

  NodeRuntime.runMain(
    Effect.gen(function* () {
      const passed = yield* phases
      const broken = yield* crash
      yield* Console.log(`phases=3 passed=${passed} broken_after_kill=${broken}`)
    })
  )
}
