/**
 * Python's producer/consumer through a `multiprocessing.JoinableQueue`, typed:
 * two producer processes put 10,000 jobs into one bounded `IpcQueue` (the
 * parent hosts it; a full queue holds the producers back), two consumer
 * processes read it as a `Stream` and mark each job done; the parent waits
 * for every job to be done (`join`), shuts the queue down (which ends the
 * consumers' streams) and counts.
 *
 *     node examples/queue-producer-consumer.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { IpcQueue, Pool, Task } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Console, Effect, Fiber, Schema, Stream } from "effect"

/** A job: an id and the producer that made it. */
export const Job = Schema.Struct({ id: Schema.Int, producer: Schema.String })

export const Jobs = IpcQueue.schema(Job)

/** Puts `count` jobs with ids from `from`, in batches of 100 (one message each). */
export const Produce = Task.make("Produce", {
  payload: { jobs: Jobs, name: Schema.String, from: Schema.Int, count: Schema.Int },
  handler: ({ count, from, jobs, name }) =>
    Effect.gen(function* () {
      for (let i = 0; i < count; i += 100) {
        const batch = Array.from({ length: Math.min(100, count - i) }, (_, k) => ({ id: from + i + k, producer: name }))
        yield* IpcQueue.offerAll(jobs, batch)
      }
    }).pipe(Effect.orDie)
})

/** Reads jobs until the queue is shut down, marking each done; returns the ids it handled. */
export const Consume = Task.make("Consume", {
  payload: { jobs: Jobs },
  success: Schema.Array(Schema.Int),
  handler: ({ jobs }) =>
    IpcQueue.stream(jobs).pipe(
      Stream.tap(() => IpcQueue.taskDone(jobs)),
      Stream.map((job) => job.id),
      Stream.runCollect,
      Effect.orDie
    )
})

if (import.meta.main) {
  const total = 10_000
  const main = Effect.gen(function* () {
    const jobs = yield* IpcQueue.make({ item: Job, capacity: 500 })
    const consumers = yield* Effect.forkChild(
      Effect.all([Pool.apply(Consume, { jobs }), Pool.apply(Consume, { jobs })], { concurrency: "unbounded" })
    )
    yield* Effect.all(
      [
        Pool.apply(Produce, { jobs, name: "a", from: 0, count: total / 2 }),
        Pool.apply(Produce, { jobs, name: "b", from: total / 2, count: total / 2 })
      ],
      { concurrency: "unbounded" }
    )
    yield* IpcQueue.join(jobs)
    yield* IpcQueue.shutdown(jobs)
    const [first, second] = yield* Fiber.join(consumers)
    const consumed = first.length + second.length
    const distinct = new Set([...first, ...second]).size
    yield* Console.log(`produced=${total} consumed=${consumed} lost=${total - distinct}`)
  }).pipe(Effect.scoped)
  NodeRuntime.runMain(main.pipe(Effect.provide(NodePool.layer({ size: 4 }))))
}
