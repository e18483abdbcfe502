/**
 * The tasks of `ipc.ts`: a producer that offers numbers to an `IpcQueue`
 * and a consumer that takes them, each in its own pool child, one item per
 * call or in batches.
 */
import { IpcQueue, Task } from "@troupe/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

export const Numbers = IpcQueue.schema(Schema.Int)

/** How items move: `offer`/`take` one at a time, `offerAll`/`takeUpTo` batches, or `offerAll` into a consumer's `stream`. */
export const Mode = Schema.Literals(["single", "batch", "stream"])

/** Offers 1..`count`. */
export const Produce = Task.make("bench/ipc/Produce", {
  payload: { queue: Numbers, count: Schema.Int, mode: Mode, batch: Schema.Int },
  handler: ({ batch, count, mode, queue }) =>
    Effect.gen(function* () {
      if (mode === "single") {
        for (let n = 1; n <= count; n++) yield* IpcQueue.offer(queue, n)
        return
      }
      for (let n = 1; n <= count; n += batch) {
        yield* IpcQueue.offerAll(
          queue,
          Array.from({ length: Math.min(batch, count - n + 1) }, (_, i) => n + i)
        )
      }
    }).pipe(Effect.orDie)
})

/** Takes `count` items and returns their sum (a check that each came once). */
export const Consume = Task.make("bench/ipc/Consume", {
  payload: { queue: Numbers, count: Schema.Int, mode: Mode, batch: Schema.Int },
  success: Schema.Number,
  handler: ({ batch, count, mode, queue }) =>
    Effect.gen(function* () {
      let sum = 0
      if (mode === "stream") {
        return yield* IpcQueue.stream(queue, { prefetch: batch }).pipe(
          Stream.take(count),
          Stream.runFold(
            () => 0,
            (total, n) => total + n
          )
        )
      }
      for (let taken = 0; taken < count; ) {
        if (mode === "single") {
          sum += yield* IpcQueue.take(queue)
          taken++
        } else {
          const items = yield* IpcQueue.takeUpTo(queue, batch)
          for (const n of items) sum += n
          taken += items.length
        }
      }
      return sum
    }).pipe(Effect.orDie)
})
