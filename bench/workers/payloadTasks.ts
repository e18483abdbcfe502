/**
 * The payload probe's tasks (`payload.ts`): each returns its payload, a
 * thousand-row table by default, as typed rows, as `Unknown`, and as the
 * table's JSON text (a bare `String`, which no codec reads: the floor).
 */
import { Task } from "@troupe/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

export const Row = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  score: Schema.Number,
  tags: Schema.Array(Schema.String)
})

export const EchoRows = Task.make("BenchEchoRows", {
  payload: Schema.Array(Row),
  success: Schema.Array(Row),
  handler: (rows) => Effect.succeed(rows)
})

export const EchoUnknown = Task.make("BenchEchoUnknown", {
  payload: Schema.Unknown,
  success: Schema.Unknown,
  handler: (value) => Effect.succeed(value)
})

export const EchoText = Task.make("BenchEchoText", {
  payload: Schema.String,
  success: Schema.String,
  handler: (text) => Effect.succeed(text)
})

export const all = [EchoRows, EchoUnknown, EchoText]

/** The table: `rows` rows of four fields (64 KB of JSON for 1,000). */
export const table = (rows: number) =>
  Array.from({ length: rows }, (_, i) => ({ id: i, name: `name-${i}`, score: i * 1.5, tags: ["a", "b", `t${i % 7}`] }))

/** A small struct in and out, for `structBurst.ts`. */
export const Add = Task.make("BenchAdd", {
  payload: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Struct({ sum: Schema.Number }),
  handler: ({ a, b }) => Effect.succeed({ sum: a + b })
})
