/**
 * Python's `Manager().dict()`: four processes count the words of their share
 * of a text into one map their parent hosts. Each count is an atomic
 * read-modify-write, so no increment is lost although the processes update
 * the same words at the same time.
 *
 *     node examples/manager-dict.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Pool, SharedMap, Task } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Console, Effect, Option, Schema } from "effect"

// Defined at the top level: the children import this file to find the task.
export const CountWords = Task.make("CountWords", {
  payload: { counts: SharedMap.schema(Schema.String, Schema.Int), lines: Schema.Array(Schema.String) },
  success: Schema.Void,
  handler: ({ counts, lines }) =>
    Effect.forEach(
      lines.flatMap((line) => line.split(/\s+/).filter((word) => word.length > 0)),
      (word) => SharedMap.update(counts, word.toLowerCase(), (n) => Option.getOrElse(n, () => 0) + 1),
      { discard: true }
    ).pipe(Effect.orDie)
})

if (import.meta.main) {
  const text = [
    "the quick brown fox jumps over the lazy dog",
    "the dog sleeps",
    "a fox is quick and the dog is lazy",
    "the end"
  ]
  const lines = Array.from({ length: 100 }, (_, i) => text[i % text.length]!)
  const expected = lines.reduce((total, line) => total + line.split(" ").length, 0)

  const main = Effect.gen(function* () {
    const counts = yield* SharedMap.make(Schema.String, Schema.Int)
    // Four processes, a quarter of the lines each.
    yield* Pool.map(
      CountWords,
      [0, 1, 2, 3].map((k) => ({ counts, lines: lines.slice(k * 25, (k + 1) * 25) }))
    )
    const entries = yield* SharedMap.entries(counts)
    const sorted = [...entries].sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    yield* Console.log(
      `top words: ${sorted
        .slice(0, 4)
        .map(([word, n]) => `${word}=${n}`)
        .join(" ")}`
    )
    const total = sorted.reduce((sum, [, n]) => sum + n, 0)
    yield* Console.log(`words=${sorted.length} total=${total} expected=${expected}`)
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodePool.layer({ size: 4 }))))
}
