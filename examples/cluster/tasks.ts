/**
 * The tasks of the cluster example: defined once, run by a local pool
 * (`NodePool.layer`) or by the cluster's runners (`ClusterPool`), the
 * caller does not know which.
 */
import { Task } from "@troupe/core"
import { Effect, Schema } from "effect"

export class Negative extends Schema.TaggedError<Negative>()("Negative", { n: Schema.Number }) {}

/** The square of a number, in a worker process; a negative number is refused with a typed error. */
export const Square = Task.make("Square", {
  payload: Schema.Number,
  success: Schema.Number,
  error: Negative,
  // Idempotent: if its runner dies while it runs, the caller runs it again elsewhere.
  retries: 2,
  handler: (n) => (n < 0 ? Effect.fail(new Negative({ n })) : Effect.succeed(n * n))
})

export const tasks = [Square]
