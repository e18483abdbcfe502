/**
 * A task in a module of its own, as an app of more than one file has them:
 * `app.ts` imports it as `./tasks.ts` (the path Node runs), and the workers
 * import this module to find it.
 */
import { Task } from "@troupe/core"
import { Effect, Schema } from "effect"

export const Cube = Task.make("Cube", {
  payload: Schema.Int,
  success: Schema.Int,
  handler: (n) => Effect.succeed(n * n * n)
})
