/**
 * The child runner's own costs, in process (the round trip over IPC is tested
 * in @troupe/node): a child's run queue takes from its head in constant time,
 * so the runs of one huge message (a `map` of a million items sends a worker
 * runs by the hundred thousand) cost linear time, not quadratic.
 */
import { describe, expect, it } from "@effect/vitest"
import { ChildRunner, Task } from "@troupe/core"
import { Effect, Schema } from "effect"
import type { ChildFrame, ChildMessage, WireDone } from "../src/internal/wire/frame.ts"

const Tiny = Task.make("ChildRunner.test/Tiny", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(n + 1)
})

const module = "file:///ChildRunner.test/tiny.ts"

/** What the runs of `Logged` did, in order, with what the channel took. */
const log: Array<string> = []

const Logged = Task.make("ChildRunner.test/Logged", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) =>
    Effect.sync(() => {
      log.push(`run ${n}`)
      return n
    })
})

/** Waits until the test releases it (`release`), noting its start. */
let release = Promise.withResolvers<void>()
const Blocked = Task.make("ChildRunner.test/Blocked", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) =>
    Effect.sync(() => log.push(`run ${n}`)).pipe(Effect.andThen(Effect.promise(() => release.promise)), Effect.as(n))
})

/** Answers at once: a string of `n` letters, or a defect for 0. */
const Letters = Task.make("ChildRunner.test/Letters", {
  payload: Schema.Number,
  success: Schema.String,
  handler: (n) => (n === 0 ? Effect.die(new Error("none")) : Effect.succeed("x".repeat(n)))
})

/** Waits until the test releases it (`releaseLetters`), then answers a string of `n` letters. */
let releaseLetters = Promise.withResolvers<void>()
const HeldLetters = Task.make("ChildRunner.test/HeldLetters", {
  payload: Schema.Number,
  success: Schema.String,
  handler: (n) => Effect.promise(() => releaseLetters.promise).pipe(Effect.as("x".repeat(n)))
})

const loggedRuns = (ids: ReadonlyArray<number>) =>
  ids.map((id, i) =>
    i === 0
      ? { _tag: "Run", id, module, task: Logged.name, payload: id }
      : { _tag: "Run", id, task: Logged.name, payload: id }
  )

/** The ids a reply frame carries (`WireDone`, `WireOne` or `Replies`). */
const idsOf = (frame: ChildMessage): Array<number> => {
  if (Array.isArray(frame)) return typeof frame[0] === "number" ? [frame[0]] : [...(frame as WireDone)[0]]
  const framed = frame as ChildFrame
  return framed._tag === "Replies" ? framed.replies.map((addressed) => addressed.id) : []
}

/** Runs start once the frames received together are read: after the microtasks queued while they are. */
const framesRead = () => Promise.resolve()

describe("ChildRunner", () => {
  it("runs the 300,000 runs of one message in linear time: every one replies once, in a generous bound", async () => {
    const count = 300_000
    let replied = 0
    let lastValue: unknown
    const allReplied = Promise.withResolvers<void>()
    const send = (frame: ChildMessage): Promise<void> => {
      if (Array.isArray(frame)) {
        replied += idsOf(frame).length
        lastValue = typeof frame[0] === "number" ? frame[1] : (frame as WireDone)[1].at(-1)
        if (replied === count) allReplied.resolve()
      }
      return Promise.resolve()
    }
    const runner = ChildRunner.make(
      { send, done: () => {}, defer: (f) => setImmediate(f), rss: () => 0 },
      // The module counts as loaded (as in a bundled child), so the test needs no module to import.
      { ...ChildRunner.defaultOptions, preload: [module], bundled: true }
    )
    await runner.warmUp
    const runs = Array.from({ length: count }, (_, id) =>
      id === 0
        ? { _tag: "Run", id, module, task: Tiny.name, payload: id }
        : { _tag: "Run", id, task: Tiny.name, payload: id }
    )
    const started = performance.now()
    runner.onMessage({ _tag: "Batch", runs })
    await allReplied.promise
    const seconds = (performance.now() - started) / 1000
    expect(lastValue).toBe(count)
    // Linear: about a second on a busy machine. `Array.shift` on this queue took minutes.
    expect(seconds).toBeLessThan(30)
  }, 120_000)

  /** A runner of the preloaded test module on a channel that takes frames synchronously (`sendNow`). */
  const onSynchronousChannel = (sendNow: (frame: ChildMessage) => void, send?: (frame: ChildMessage) => void) =>
    ChildRunner.make(
      {
        send: (frame) => {
          send?.(frame)
          return Promise.resolve()
        },
        sendNow,
        done: () => {},
        defer: (f) => setImmediate(f),
        rss: () => 0
      },
      { ...ChildRunner.defaultOptions, preload: [module], bundled: true }
    )

  it("on a synchronous channel (sendNow), hands each reply over before the next run starts, without the async send", async () => {
    log.length = 0
    const sent: Array<ChildMessage> = []
    const runner = onSynchronousChannel(
      (frame) => {
        for (const id of idsOf(frame)) log.push(`reply ${id}`)
      },
      (frame) => sent.push(frame)
    )
    await runner.warmUp
    runner.onMessage({ _tag: "Batch", runs: loggedRuns([1, 2, 3]) })
    await framesRead()
    // Every run answers at once: the whole batch is done in one go, the async send unused.
    expect(log).toEqual(["run 1", "reply 1", "run 2", "reply 2", "run 3", "reply 3"])
    expect(sent).toEqual([])
  })

  it("on a synchronous channel, each reply frame carries its own run, however the runner reuses its frames", async () => {
    const copies: Array<ChildMessage> = []
    const handed: Array<ChildMessage> = []
    // `postMessage` copies the frame before it returns; so does this channel.
    const runner = onSynchronousChannel((frame) => {
      copies.push(structuredClone(frame))
      handed.push(frame)
    })
    await runner.warmUp
    runner.onMessage({ _tag: "Batch", runs: loggedRuns([1, 2, 3]) })
    await framesRead()
    // The first reply also carries the resident set size (reported once a second).
    expect(copies).toEqual([
      [[1], [1], 0],
      [2, 2],
      [3, 3]
    ])
    // The lone successes went in one reused `WireOne`, which holds no value once the channel has taken it.
    expect(handed[1]).toBe(handed[2])
    expect(handed[2]).toEqual([3, undefined])
  })

  it("sends a frame that sendNow refuses again, one reply at a time, through the async send", async () => {
    log.length = 0
    const sent: Array<ChildMessage> = []
    const allSent = Promise.withResolvers<void>()
    const runner = ChildRunner.make(
      {
        send: (frame) => {
          sent.push(frame)
          if (sent.length === 2) allSent.resolve()
          return Promise.resolve()
        },
        sendNow: () => {
          throw new Error("cannot clone")
        },
        done: () => {},
        defer: (f) => setImmediate(f),
        rss: () => 0
      },
      { ...ChildRunner.defaultOptions, preload: [module], bundled: true }
    )
    await runner.warmUp
    runner.onMessage({ _tag: "Batch", runs: loggedRuns([1, 2]) })
    await allSent.promise
    // The second run waited for the first reply to go through the async send.
    expect(sent).toEqual([
      { _tag: "Replies", replies: [{ id: 1, reply: { _tag: "Success", value: 1 } }] },
      { _tag: "Replies", replies: [{ id: 2, reply: { _tag: "Success", value: 2 } }] }
    ])
    expect(log).toEqual(["run 1", "run 2"])
  })

  it("never starts a run whose Interrupt is read with it: the parent cancelled it before it could start", async () => {
    log.length = 0
    const sent: Array<ChildMessage> = []
    const runner = onSynchronousChannel((frame) => sent.push(frame))
    await runner.warmUp
    runner.onMessage({ _tag: "Batch", runs: loggedRuns([1, 2]) })
    runner.onMessage({ _tag: "Interrupt", id: 1 })
    runner.onMessage({ _tag: "Interrupt", id: 2 })
    await framesRead()
    expect(log).toEqual([])
    expect(sent.flatMap(idsOf).sort()).toEqual([1, 2])
  })

  it("gives back a run still waiting when the parent withdraws it, at once, and lets a started run answer for itself", async () => {
    log.length = 0
    release = Promise.withResolvers<void>()
    const sent: Array<ChildMessage> = []
    const runner = ChildRunner.make(
      {
        send: (frame) => {
          sent.push(frame)
          return Promise.resolve()
        },
        done: () => {},
        defer: (f) => setImmediate(f),
        rss: () => 0
      },
      { ...ChildRunner.defaultOptions, preload: [module], bundled: true }
    )
    await runner.warmUp
    runner.onMessage({
      _tag: "Batch",
      runs: [
        { _tag: "Run", id: 1, module, task: Blocked.name, payload: 1 },
        ...loggedRuns([2, 3]).map((run, i) => (i === 0 ? { ...run, module } : run))
      ]
    })
    await framesRead()
    expect(log).toEqual(["run 1"])
    // Run 3 waits behind the blocked run 1: it comes back now, while run 1 still runs.
    runner.onMessage({ _tag: "Withdraw", id: 3 })
    expect(sent).toMatchObject([{ _tag: "Replies", replies: [{ id: 3, reply: { _tag: "Withdrawn" } }] }])
    // Run 1 started: withdrawing it changes nothing, it answers when it ends; then run 2 runs, and never run 3.
    runner.onMessage({ _tag: "Withdraw", id: 1 })
    expect(sent).toHaveLength(1)
    release.resolve()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(log).toEqual(["run 1", "run 2"])
    expect(sent.flatMap(idsOf)).toEqual([3, 1, 2])
  })

  it("holds a reply that answers at once to maxPayloadBytes, and maps its stack back, as a forked run's", async () => {
    const replies: Array<unknown> = []
    const runner = ChildRunner.make(
      {
        send: () => Promise.resolve(),
        sendNow: (frame) => {
          const framed = frame as ChildFrame
          if (!Array.isArray(frame) && framed._tag === "Replies") replies.push(...framed.replies)
          else replies.push(structuredClone(frame))
        },
        mapStack: (stack) => `mapped: ${stack.split("\n")[0]}`,
        done: () => {},
        defer: (f) => setImmediate(f),
        rss: () => 0
      },
      { ...ChildRunner.defaultOptions, preload: [module], bundled: true, maxPayloadBytes: 10 }
    )
    await runner.warmUp
    runner.onMessage({
      _tag: "Batch",
      runs: [
        { _tag: "Run", id: 1, module, task: Letters.name, payload: 3 },
        { _tag: "Run", id: 2, task: Letters.name, payload: 20 },
        { _tag: "Run", id: 3, task: Letters.name, payload: 0 }
      ]
    })
    await framesRead()
    expect(replies).toEqual([
      [[1], ["xxx"], 0],
      // 22 bytes of JSON: over the limit of 10.
      { id: 2, reply: { _tag: "TooLarge", size: 22, limit: 10 } },
      { id: 3, reply: { _tag: "Defect", name: "Error", message: "none", stack: "mapped: Error: none" } }
    ])
  })

  it("keeps every frame within maxFrameBytes: a reply too big alone is TooLarge, replies too big together go apart", async () => {
    releaseLetters = Promise.withResolvers<void>()
    const maxFrameBytes = 4096
    const frames: Array<ChildMessage> = []
    let replied = 0
    const allReplied = Promise.withResolvers<void>()
    const runner = ChildRunner.make(
      {
        send: (frame) => {
          frames.push(frame)
          replied += idsOf(frame).length
          if (replied === 4) allReplied.resolve()
          return Promise.resolve()
        },
        done: () => {},
        defer: (f) => setImmediate(f),
        rss: () => 0
      },
      { ...ChildRunner.defaultOptions, preload: [module], bundled: true, concurrency: 4, maxFrameBytes }
    )
    await runner.warmUp
    const sizes = [1500, 1500, 1500, 5000]
    runner.onMessage({
      _tag: "Batch",
      runs: sizes.map((n, i) =>
        i === 0
          ? { _tag: "Run", id: i + 1, module, task: HeldLetters.name, payload: n }
          : { _tag: "Run", id: i + 1, task: HeldLetters.name, payload: n }
      )
    })
    await framesRead()
    // All four finish in one turn of the event loop: as one batch they would make a frame of 9,500 bytes and more.
    releaseLetters.resolve()
    await allReplied.promise
    for (const frame of frames) expect(JSON.stringify(frame).length).toBeLessThanOrEqual(maxFrameBytes)
    const replies = frames.flatMap((frame) => {
      const framed = frame as ChildFrame
      return Array.isArray(frame) || framed._tag !== "Replies" ? [] : framed.replies
    })
    const unsent = { id: 4, reply: { _tag: "Success", value: "x".repeat(5000) } }
    expect(replies.sort((a, b) => a.id - b.id)).toEqual([
      { id: 1, reply: { _tag: "Success", value: "x".repeat(1500) } },
      { id: 2, reply: { _tag: "Success", value: "x".repeat(1500) } },
      { id: 3, reply: { _tag: "Success", value: "x".repeat(1500) } },
      // Its size is the reply's, as it would have gone: over the limit with its envelope.
      { id: 4, reply: { _tag: "TooLarge", size: JSON.stringify(unsent).length, limit: maxFrameBytes } }
    ])
  })

  it("ends the child when a reply cannot be sent even as EncodeFailed: its caller does not wait for ever", async () => {
    for (const refuses of ["throws", "rejects"] as const) {
      const exited = Promise.withResolvers<number>()
      const attempts: Array<ReadonlyArray<number>> = []
      const runner = ChildRunner.make(
        {
          // A broken channel: every frame is refused, the EncodeFailed that stands for a refused reply too.
          send: (frame) => {
            attempts.push(idsOf(frame))
            if (refuses === "throws") throw new TypeError("the channel is broken")
            return Promise.reject(new TypeError("the channel is broken"))
          },
          done: (code) => exited.resolve(code),
          defer: (f) => setImmediate(f),
          rss: () => 0
        },
        { ...ChildRunner.defaultOptions, preload: [module], bundled: true }
      )
      await runner.warmUp
      runner.onMessage({ _tag: "Batch", runs: loggedRuns([1]) })
      expect(await exited.promise).toBe(1)
      // The batch, the reply alone, then its EncodeFailed: each refused.
      expect(attempts).toEqual([[1], [1], [1]])
    }
  })
})
