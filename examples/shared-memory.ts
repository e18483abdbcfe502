/**
 * Shared memory on threads: four worker threads add ranges of numbers into
 * one shared `Int32Array` with `Atomics`, without copying it; the parent
 * reads the total from the same memory. The same call on processes fails at
 * once with a typed error that says why (a process cannot share memory).
 *
 *     node examples/shared-memory.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Pool, SharedMemory, Task } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Console, Effect, Schema } from "effect"

/** Adds `from + (from + 1) + ... + (to - 1)` to `total[0]`, atomically. */
export const AddRange = Task.make("AddRange", {
  payload: Schema.Struct({ total: SharedMemory.Int32, from: Schema.Int, to: Schema.Int }),
  success: Schema.Void,
  handler: ({ from, to, total }) =>
    Effect.sync(() => {
      for (let n = from; n < to; n++) Atomics.add(total, 0, n)
    })
})

if (import.meta.main) {
  const total = SharedMemory.allocate(Int32Array, 1)
  const ranges = Array.from({ length: 8 }, (_, k) => ({ total, from: k * 1000, to: (k + 1) * 1000 }))
  const expected = (8000 * 7999) / 2

  const onThreads = Effect.gen(function* () {
    yield* Pool.map(AddRange, ranges)
    yield* Console.log(`total=${Atomics.load(total, 0)} expected=${expected}`)
  }).pipe(Effect.provide(NodePool.layer({ size: 4, backend: "thread" })))

  const onProcesses = Pool.apply(AddRange, ranges[0]!).pipe(
    Effect.flip,
    Effect.flatMap((error) => Console.log(`on processes: ${error._tag}: ${"message" in error ? error.message : ""}`)),
    Effect.provide(NodePool.layer({ size: 1 }))
  )

  NodeRuntime.runMain(Effect.andThen(onThreads, onProcesses))
}
