/**
 * Troupe's benchmark tasks, defined at the top level so that a worker finds
 * them by importing this module (the pool passes them in `tasks`, so workers
 * start from a bundle with this module inside).
 */
import { Task } from "@troupe/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { crash, spin, square } from "./work.mjs"

export const Square = Task.make("BenchSquare", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(square(n))
})

export const Spin = Task.make("BenchSpin", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (iterations) => Effect.sync(() => spin(iterations))
})

export const Crash = Task.make("BenchCrash", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.sync(() => crash(n))
})

export const all = [Square, Spin, Crash]
