/**
 * Soak mode: the chaos workload for N minutes (not part of CI).
 *
 *     npm run soak -- --minutes 30 [--retries 5] [--callers 64]
 *
 * A pool of 4 runs tasks without pause while a chaos fiber SIGKILLs a random
 * worker every 50-200 ms. Every 10 s it prints what settled, succeeded and
 * failed (by error), the pool's restarts, the slowest call of the interval
 * and the parent's memory. At the end it checks the promise: every call
 * settled, with retries every call succeeded, without them every failure is
 * a typed crash; the exit code is 1 if not.
 */
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Pool } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Fiber } from "effect"
import { call, chaosPoolOptions, emptyTally, mb, startChaos } from "./chaos.ts"

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    retries: { type: "string", default: "5" },
    callers: { type: "string", default: "64" }
  }
})
const minutes = Number(values.minutes)
const retries = Number(values.retries)
const callers = Number(values.callers)
if (!(minutes > 0) || !Number.isInteger(retries) || retries < 0 || !Number.isInteger(callers) || callers < 1) {
  console.error("usage: npm run soak -- --minutes N [--retries R] [--callers C]")
  process.exit(2)
}

const timeoutMs = 2000

const main = Effect.gen(function* () {
  const pool = yield* Pool.make(chaosPoolOptions)
  const tally = emptyTally()
  const options = { retries, timeout: timeoutMs, taskMs: 1, keepDurations: false }
  const started = Date.now()
  const deadline = started + minutes * 60_000
  let next = 0
  let slowest = 0
  let pending = 0
  // Each caller loops until the deadline, one call at a time, timing its calls.
  const caller = Effect.gen(function* () {
    while (Date.now() < deadline) {
      const n = next++
      const before = performance.now()
      pending++
      yield* call(pool, n, tally, options)
      pending--
      slowest = Math.max(slowest, performance.now() - before)
    }
  })
  yield* Console.log(
    `soak: ${minutes} min, pool of 4 (concurrency 8), ${callers} callers, retries ${retries}, timeout ${timeoutMs} ms, a worker SIGKILLed every 50-200 ms`
  )
  const chaos = yield* startChaos(pool)
  const line = Effect.gen(function* () {
    const stats = yield* pool.stats
    // With --expose-gc (as `npm run soak` runs it), the heap is measured after a full collection.
    ;(globalThis as { gc?: () => void }).gc?.()
    const memory = process.memoryUsage()
    const failures = [...tally.byTag].map(([tag, n]) => `${tag}=${n}`).join(",") || "-"
    yield* Console.log(
      `t=${Math.round((Date.now() - started) / 1000)}s settled=${tally.settled} succeeded=${tally.succeeded} failed=${tally.failed} (${failures}) restarts=${stats.restarts} kills=${chaos.kills()} slowestMs=${Math.round(slowest)} heapMb=${mb(memory.heapUsed)} rssMb=${mb(memory.rss)}`
    )
    slowest = 0
  })
  const reporter = yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep("10 seconds"), line)))
  yield* Effect.forEach(Array.from({ length: callers }), () => caller, { concurrency: "unbounded", discard: true })
  yield* chaos.stop
  yield* Fiber.interrupt(reporter)
  yield* line
  const typedCrashesOnly = [...tally.byTag.keys()].every((tag) => tag === "WorkerCrashed")
  const ok =
    pending === 0 &&
    tally.wrong === 0 &&
    tally.settled === next &&
    (retries > 0 ? tally.failed === 0 : typedCrashesOnly)
  yield* Console.log(
    ok
      ? `soak: OK, ${tally.settled} calls settled, none hung`
      : `soak: FAILED (pending=${pending}, wrong=${tally.wrong}, failures ${[...tally.byTag].join(" ")})`
  )
  if (!ok) process.exitCode = 1
})

NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
