/**
 * Task definitions: the module a child imports, the registry it looks in,
 * and the payload shorthand.
 */
import { describe, expect, it } from "@effect/vitest"
import { Task } from "@troupe/core"
import { Effect, Schema } from "effect"

const Defined = Task.make("Task.test/Defined", {
  payload: { n: Schema.Number },
  success: Schema.Number,
  handler: ({ n }) => Effect.succeed(n + 1)
})

describe("Task", () => {
  it("remembers the module that called make", () => {
    expect(Defined.module).toBe(import.meta.url)
  })

  it("an explicit module wins", () => {
    const task = Task.make("Task.test/Explicit", { module: "file:///somewhere/else.ts", handler: () => Effect.void })
    expect(task.module).toBe("file:///somewhere/else.ts")
  })

  it("registers the task under its name", () => {
    expect(Task.find("Task.test/Defined")).toBe(Defined)
    expect(Task.find("Task.test/Missing")).toBeUndefined()
  })

  it("turns a record of fields into a Struct payload, and defaults success and error", () => {
    expect(Schema.decodeUnknownSync(Defined.payloadSchema)({ n: 2 })).toEqual({ n: 2 })
    expect(() => Schema.decodeUnknownSync(Defined.payloadSchema)({ n: "2" })).toThrow()
    const bare = Task.make("Task.test/Bare", { handler: () => Effect.void })
    expect(bare.successSchema).toBe(Schema.Void)
    expect(bare.errorSchema).toBe(Schema.Never)
    expect(Task.isTask(bare)).toBe(true)
    expect(Task.isTask({ name: "Task.test/Bare" })).toBe(false)
  })
})
