/**
 * The child runner's own costs, in process (the round trip over IPC is tested
 * in @troupe/node): a child's run queue takes from its head in constant time,
 * so the runs of one huge message (a `map` of a million items sends a worker
 * runs by the hundred thousand) cost linear time, not quadratic.
 */
import { describe, expect, it } from "@effect/vitest"
import { ChildRunner, Task } from "@troupe/core"
import { Effect, Schema } from "effect"
import type { ChildMessage } from "../src/internal/wire/frame.ts"

const Tiny = Task.make("ChildRunner.test/Tiny", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(n + 1)
})

const module = "file:///ChildRunner.test/tiny.ts"

describe("ChildRunner", () => {
  it("runs the 300,000 runs of one message in linear time: every one replies once, in a generous bound", async () => {
    const count = 300_000
    let replied = 0
    let lastValue: unknown
    const allReplied = Promise.withResolvers<void>()
    const send = (frame: ChildMessage): Promise<void> => {
      if (Array.isArray(frame)) {
        replied += frame[0].length
        lastValue = frame[1].at(-1)
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
})
