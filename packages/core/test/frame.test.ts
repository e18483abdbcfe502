/**
 * The frame decoders: the hot frames are checked by hand, everything else by
 * the Schemas. A frame passes the hand check only with exactly the shape its
 * Schema accepts, so both paths agree on what is well formed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import { ChildFrame, decodeChildFrame, decodeParentFrame, ParentFrame } from "../src/internal/frame.ts"

const run = { _tag: "Run", id: 1, module: "file:///m.ts", task: "T", payload: { n: 1 } }

const agrees = (decode: (u: unknown) => Exit.Exit<unknown, unknown>, schema: Schema.Top, frame: unknown) => {
  const fast = decode(frame)
  const slow = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>)(frame)
  expect(Exit.isSuccess(fast)).toBe(Exit.isSuccess(slow))
  if (Exit.isSuccess(fast) && Exit.isSuccess(slow)) expect(fast.value).toEqual(slow.value)
}

describe("frames", () => {
  it("parent frames: well-formed and malformed Run and Batch frames decode as the Schema says", () => {
    const frames: Array<unknown> = [
      run,
      { ...run, confirm: true, attempt: 2 },
      { _tag: "Run", id: 1, task: "T", payload: 3 },
      { _tag: "Batch", runs: [run, { _tag: "Run", id: 2, task: "T", payload: 4 }] },
      { ...run, payload: undefined },
      { ...run, trace: { traceId: "t", spanId: "s", sampled: true } },
      { _tag: "Batch", runs: [run, { ...run, id: 2 }] },
      { _tag: "Batch", runs: [] },
      { ...run, id: "1" },
      { ...run, module: 3 },
      { ...run, confirm: "yes" },
      { _tag: "Run", id: 1, module: "m", task: "T" },
      { _tag: "Batch", runs: [run, { ...run, task: null }] },
      { _tag: "Batch", runs: "nope" },
      { _tag: "Interrupt", id: 1 },
      { _tag: "Nope" },
      null,
      [run],
      "Run"
    ]
    for (const frame of frames) agrees(decodeParentFrame, ParentFrame, frame)
    expect(Exit.isFailure(decodeParentFrame({ ...run, id: "1" }))).toBe(true)
  })

  it("child frames: well-formed and malformed Replies and Done frames decode as the Schema says", () => {
    const ok = { id: 1, reply: { _tag: "Success", value: 4 } }
    const failed = { id: 2, reply: { _tag: "Failure", error: { _tag: "E" }, stack: "at x" } }
    const frames: Array<unknown> = [
      { _tag: "Replies", replies: [ok, failed] },
      { _tag: "Replies", replies: [ok], rss: 123 },
      { _tag: "Replies", replies: [{ ...ok, snapshot: { s: 1 } }] },
      { _tag: "Replies", replies: [{ id: 3, reply: { _tag: "Interrupted" } }] },
      { _tag: "Replies", replies: [ok], rss: "big" },
      { _tag: "Replies", replies: [{ id: "1", reply: { _tag: "Success", value: 4 } }] },
      { _tag: "Replies", replies: [{ id: 1, reply: { _tag: "Success" } }] },
      { _tag: "Replies", replies: [{ id: 1, reply: { _tag: "Failure", error: 1, stack: 5 } }] },
      { _tag: "Replies", replies: [{ id: 1, reply: { _tag: "Bogus" } }] },
      { _tag: "Replies", replies: [{ ...ok, spans: "no" }] },
      { _tag: "Replies" },
      { _tag: "Done", ids: [1, 2], values: [4, { a: 1 }] },
      { _tag: "Done", ids: [], values: [], rss: 5 },
      { _tag: "Done", ids: ["1"], values: [4] },
      { _tag: "Done", ids: [1], values: "4" },
      { _tag: "Done", ids: [1], values: [4], rss: "big" },
      { _tag: "Done", ids: [1] },
      { _tag: "Ready", pid: 1 },
      null
    ]
    for (const frame of frames) agrees(decodeChildFrame, ChildFrame, frame)
  })
})
