import * as Task from "@troupe/core/Task"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
export const Work = Task.make("Work", {
  payload: Schema.Int,
  success: Schema.Int,
  handler: (n) => Effect.promise(() => new Promise<number>((resolve) => setTimeout(() => resolve(n), 10)))
})
