/**
 * The frame decoders: the hot frames are checked by hand, everything else by
 * the Schemas. A frame passes the hand check only with exactly the shape its
 * Schema accepts, so both paths agree on what is well formed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import {
  ChildFrame,
  decodeChildFrame,
  decodeParentFrame,
  ParentFrame,
  type Run,
  runsMessage,
  WireDone,
  WireOne,
  WireRun,
  wireDone
} from "../src/internal/wire/frame.ts"

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

  it("a Replies or Reply frame with one malformed reply that names its run: that reply alone becomes a MalformedReply defect", () => {
    const ok = { id: 1, reply: { _tag: "Success", value: 4 } }
    const malformed = [
      { id: 2, reply: { _tag: "Success" } },
      { id: 2, reply: { _tag: "Failure", error: 1, stack: 5 } },
      { id: 2, reply: { _tag: "Defect", name: "Error", message: 42 } },
      { id: 2, reply: { _tag: "Bogus" } },
      { id: 2, reply: { _tag: "Success", value: 1 }, spans: "no" }
    ]
    for (const bad of malformed) {
      const decoded = decodeChildFrame({ _tag: "Replies", replies: [ok, bad, { ...ok, id: 3 }], rss: 7 })
      expect(Exit.isSuccess(decoded)).toBe(true)
      const frame = (decoded as Exit.Success<ChildFrame>).value
      expect(frame).toMatchObject({ _tag: "Replies", rss: 7 })
      const replies = (frame as Extract<ChildFrame, { _tag: "Replies" }>).replies
      expect(replies.map((addressed) => addressed.id)).toEqual([1, 2, 3])
      expect(replies[0]).toEqual(ok)
      expect(replies[1]!.reply).toMatchObject({ _tag: "Defect", name: "MalformedReply" })
      expect(replies[2]).toEqual({ ...ok, id: 3 })
      if ("spans" in bad) continue
      const single = decodeChildFrame({ _tag: "Reply", id: 2, reply: bad.reply })
      expect(single).toEqual(
        Exit.succeed({ _tag: "Reply", id: 2, reply: expect.objectContaining({ name: "MalformedReply" }) })
      )
    }
    // A reply that does not say which run it answers cannot be attributed: the frame is refused.
    expect(Exit.isFailure(decodeChildFrame({ _tag: "Replies", replies: [ok, { reply: { _tag: "Bogus" } }] }))).toBe(
      true
    )
    expect(Exit.isFailure(decodeChildFrame({ _tag: "Replies", replies: [ok, { id: "2", reply: ok.reply }] }))).toBe(
      true
    )
  })

  it("wire runs: a run goes as a tuple when it can, and comes back as the Run it was, through JSON", () => {
    const named = (task: string) => task === "Known"
    const runs: Array<Run> = [
      { _tag: "Run", id: 1, module: "file:///m.ts", task: "New", payload: 2 },
      { _tag: "Run", id: 2, module: "file:///m.ts", task: "Known", payload: { n: [1, 2] } },
      { _tag: "Run", id: 3, module: "file:///m.ts", task: "Known", payload: null, confirm: true },
      { _tag: "Run", id: 4, module: "file:///m.ts", task: "New", payload: "x", confirm: true, attempt: 2 }
    ]
    const message = JSON.parse(JSON.stringify(runsMessage(runs, named)))
    expect(message).toEqual([
      [1, "New", 2, "file:///m.ts"],
      [2, "Known", { n: [1, 2] }],
      [3, "Known", null, null, true],
      [4, "New", "x", "file:///m.ts", true, 2]
    ])
    const decoded = decodeParentFrame(message)
    expect(Exit.isSuccess(decoded) && decoded.value._tag === "Batch").toBe(true)
    if (Exit.isSuccess(decoded) && decoded.value._tag === "Batch") {
      const known = (run: Run) => ({ ...run, module: named(run.task) ? undefined : run.module })
      expect(decoded.value.runs.map((run) => ({ ...run }))).toEqual(
        runs.map((run) => ({ confirm: undefined, attempt: undefined, ...known(run) }))
      )
    }
    // A traced run, or one without a payload (JSON would make it null), goes as the object it is.
    const traced: Run = { ...runs[0]!, trace: { traceId: "t", spanId: "s", sampled: true } }
    expect(runsMessage([traced], named)).toEqual(traced)
    expect(runsMessage([runs[1]!, { ...runs[0]!, payload: undefined }], named)).toEqual({
      _tag: "Batch",
      runs: [
        { _tag: "Run", id: 2, task: "Known", payload: { n: [1, 2] } },
        { ...runs[0]!, payload: undefined }
      ]
    })
  })

  it("wire frames: the hand checks of WireRun lists and WireDone agree with their Schemas", () => {
    const runLists: Array<unknown> = [
      [[1, "T", 2]],
      [
        [1, "T", 2, "m"],
        [2, "T", { a: 1 }]
      ],
      [[1, "T", null, null, true, 3]],
      [[1, "T", 2, null, null, 3]],
      [],
      [["1", "T", 2]],
      [[1, 2, 2]],
      [[1, "T"]],
      [[1, "T", 2, 5]],
      [[1, "T", 2, "m", "yes"]],
      [[1, "T", 2, "m", true, "2"]],
      [[1, "T", 2, "m", true, 2, 7]],
      [{ _tag: "Run", id: 1, task: "T", payload: 2 }],
      [null]
    ]
    const listSchema = Schema.Array(WireRun)
    for (const list of runLists) {
      const decoded = decodeParentFrame(list)
      const schema = Schema.decodeUnknownExit(listSchema)(list)
      expect(Exit.isSuccess(decoded)).toBe(Exit.isSuccess(schema))
    }
    expect(Exit.isFailure(decodeParentFrame([[1, "T"]]))).toBe(true)

    const doneFrames: Array<unknown> = [
      wireDone([1, 2], [4, { a: 1 }], undefined),
      wireDone([], [], 5),
      [[1], [4], "big"],
      [["1"], [4]],
      [[1], "4"],
      [[1]],
      [[1], [4], 5, 6],
      []
    ]
    for (const frame of doneFrames) {
      const decoded = decodeChildFrame(frame)
      const schema = Schema.decodeUnknownExit(WireDone)(frame)
      expect(Exit.isSuccess(decoded)).toBe(Exit.isSuccess(schema))
    }
    expect(decodeChildFrame(wireDone([1, 2], [4, 9], 77))).toEqual(
      Exit.succeed({ _tag: "Done", ids: [1, 2], values: [4, 9], rss: 77 })
    )
    expect(decodeChildFrame(wireDone([3], ["x"], undefined))).toEqual(
      Exit.succeed({ _tag: "Done", ids: [3], values: ["x"] })
    )

    // A success alone goes as a `WireOne`; an array that is neither is refused as the Schemas say.
    const successes = Schema.Union([WireDone, WireOne])
    const oneFrames: Array<unknown> = [
      [1, 4],
      [1, { a: 1 }],
      [1, undefined],
      [1, null],
      ["1", 4],
      [1],
      [1, 4, 5],
      [[1], 4]
    ]
    for (const frame of oneFrames) {
      const decoded = decodeChildFrame(frame)
      const schema = Schema.decodeUnknownExit(successes)(frame)
      expect(Exit.isSuccess(decoded)).toBe(Exit.isSuccess(schema))
    }
    expect(decodeChildFrame([3, "x"])).toEqual(Exit.succeed({ _tag: "Done", ids: [3], values: ["x"] }))
    expect(decodeChildFrame([3, undefined])).toEqual(Exit.succeed({ _tag: "Done", ids: [3], values: [undefined] }))
  })

  it("channel frames: the hand checks of Call and CallReply agree with their Schemas", () => {
    const calls = [
      { _tag: "Call", id: 1, endpoint: "e.1", method: "Add", payload: 1 },
      { _tag: "Call", id: 1, endpoint: "e.1", method: "Add" },
      { _tag: "Call", id: "1", endpoint: "e.1", method: "Add", payload: 1 },
      { _tag: "Call", id: 1, endpoint: 3, method: "Add", payload: 1 },
      { _tag: "CallInterrupt", id: 1 },
      { _tag: "CallInterrupt" }
    ]
    for (const frame of calls) agrees(decodeChildFrame, ChildFrame, frame)
    const replies = [
      { _tag: "CallReply", id: 1, reply: { _tag: "Success", value: 2 } },
      { _tag: "CallReply", id: 1, reply: { _tag: "Failure", error: { _tag: "E" } } },
      { _tag: "CallReply", id: 1, reply: { _tag: "Defect", name: "X", message: "m" } },
      { _tag: "CallReply", id: 1, reply: { _tag: "Success" } },
      { _tag: "CallReply", reply: { _tag: "Success", value: 2 } },
      { _tag: "CallRefused", id: 1, reason: "ServiceClosed", message: "closed" },
      { _tag: "CallRefused", id: 1, reason: "Other", message: "closed" }
    ]
    for (const frame of replies) agrees(decodeParentFrame, ParentFrame, frame)
  })
})
