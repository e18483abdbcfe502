/**
 * A pool for a program that does not use Effect: `PromisePool` has
 * piscina's shape, `run`, `map` and `close`, each a Promise. Tasks are
 * still defined with `Task.make` at the top level of a module (the workers
 * import it to find them); a failed task rejects with its typed error, and
 * a call given an `AbortSignal` is cancelled when it aborts; `offer` is
 * refused (`QueueFull`) when the queue is full, where `run` waits. `await using`
 * closes the pool when the block that made it is left.
 *
 *     node examples/promise-pool.ts
 */
import { Task } from "@troupe/core"
import { PromisePool } from "@troupe/node"
import { Effect, Schema } from "effect"

export const Square = Task.make("Square", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(n * n)
})

export class Negative extends Schema.TaggedError<Negative>()("Negative", { n: Schema.Number }) {}

export const SquareRoot = Task.make("SquareRoot", {
  payload: Schema.Number,
  success: Schema.Number,
  error: Negative,
  handler: (n) => (n < 0 ? Effect.fail(new Negative({ n })) : Effect.succeed(Math.sqrt(n)))
})

export const Slow = Task.make("Slow", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (ms) => Effect.as(Effect.sleep(ms), ms)
})

const main = async () => {
  // Closed (drained, every worker gone) when `main` returns or throws: `await pool.close()` does the same by hand.
  await using pool = await PromisePool.make({ size: 2 })
  console.log(`run: ${await pool.run(Square, 7)}`)
  console.log(`map: ${JSON.stringify(await pool.map(Square, [1, 2, 3, 4, 5]))}`)
  // One Promise per request, as an HTTP handler calls it: all in flight at once.
  const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.run(Square, i)))
  console.log(`1000 at once, sum: ${many.reduce((sum, x) => sum + x, 0)}`)
  await pool.run(SquareRoot, -4).catch((error: Negative) => console.log(`rejected: ${error._tag} n=${error.n}`))
  // Giving up on a call: it is taken off its worker, then rejects with the signal's reason.
  const controller = new AbortController()
  const slow = pool.run(Slow, 60_000, { signal: controller.signal })
  controller.abort(new Error("the client went away"))
  await slow.catch((error: Error) => console.log(`aborted: ${error.message}`))
  // Refused rather than kept waiting (an HTTP handler answers 503): `offer` rejects when the queue is full.
  await using small = await PromisePool.make({ size: 1, queueSize: 1, prefetch: 0 })
  const busy = new AbortController()
  const held = small.run(Slow, 60_000, { signal: busy.signal }).catch(() => "aborted")
  const waiting = small.run(Square, 2) // the one place in the queue
  await small.offer(Square, 3).catch((error: Error & { _tag: string }) => console.log(`offer: ${error._tag}`))
  busy.abort()
  console.log(`after the abort: ${await held}, ${await waiting}, offer: ${await small.offer(Square, 3)}`)
}

if (import.meta.main) {
  await main()
  console.log("closed")
}
