/**
 * The pool's dispatcher, slots and supervision in memory: a pool over
 * `TestTransport` under `TestClock`. Queue order, deadlines, crash retries
 * and their backoff, restart intensity and shutdown are exact here, with no
 * real process and no real wait. The handlers run in this process (an
 * in-memory child's runner): they record what they ran in `ran`, and `Gate`
 * holds its worker until the test opens the gate.
 */
import { describe, expect, it } from "@effect/vitest"
import { Balancer, Pool, Task, TestTransport, Transport } from "@troupe/core"
import { Cause, Effect, Exit, Fiber, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import { ServingChild } from "../src/internal/wire/servingChild.ts"
import { closeDriven, driven, joinSoon, settle, until, untilEffect } from "./fixtures/clock.ts"

/** What the workers ran, in order. */
const ran: Array<string> = []

let openGate: () => void = () => {}
let gate: Promise<void> = Promise.resolve()
/** Closes the gate: `Gate` calls wait until `openGate()`. */
const closeGate = () => {
  gate = new Promise((resolve) => {
    openGate = resolve
  })
}

/** Holds its worker until the gate opens (a long task, in no particular time). */
const Gate = Task.make("PoolClock.test/Gate", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) =>
    Effect.andThen(
      Effect.sync(() => ran.push(`Gate ${n}`)),
      Effect.promise(() => gate.then(() => n))
    )
})

const Record = Task.make("PoolClock.test/Record", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) =>
    Effect.sync(() => {
      ran.push(`Record ${n}`)
      return n
    })
})

const tasks = [Gate, Record]

interface Harness {
  readonly pool: Pool.Service
  readonly test: TestTransport.TestTransport
  readonly scope: Scope.Closeable
}

/** A pool over a fresh in-memory transport, in a scope the test closes (`close`) or that closes after `body`. */
const withPool = <A, E>(
  options: Pool.Options,
  body: (harness: Harness) => Effect.Effect<A, E>,
  testOptions?: TestTransport.Options
) =>
  Effect.gen(function* () {
    ran.length = 0
    closeGate()
    const test = TestTransport.make(testOptions)
    const scope = yield* Scope.make()
    const pool = yield* Pool.make({ tasks, ...options }).pipe(
      Scope.provide(scope),
      Effect.provideService(Transport.Transport, test.transport)
    )
    const result = yield* body({ pool, test, scope })
    openGate()
    yield* closeDriven(scope)
    return result
  })

const untilStats = (pool: Pool.Service, check: (stats: Pool.Stats) => boolean) => untilEffect(pool.stats, check)

// A test forks a pool's shutdown detached (`Effect.forkDetach`): failing halfway, it ends at once rather than wait
// for a drain on a clock that nobody moves any more.

/** Calls `Gate` and waits until its worker runs it. */
const holdWorker = (pool: Pool.Service, n: number = 0) =>
  Effect.gen(function* () {
    const call = yield* Effect.forkChild(Effect.exit(pool.apply(Gate, n)))
    yield* until(() => ran.includes(`Gate ${n}`))
    return call
  })

/** Submits `Record n` for each of `numbers`, one after the other (each queued before the next is submitted). */
const submitInOrder = (pool: Pool.Service, numbers: ReadonlyArray<number>) =>
  Effect.forEach(numbers, (n) =>
    Effect.gen(function* () {
      const before = (yield* pool.stats).submitted
      const call = yield* Effect.forkChild(Effect.exit(pool.apply(Record, n)))
      yield* untilStats(pool, (stats) => stats.submitted === before + 1)
      return call
    })
  )

/** The runs one frame the parent sent carries: a list of compact runs, a `Run` or a `Batch`; 0 for any other frame. */
const runsIn = (frame: unknown): number => {
  if (Array.isArray(frame)) return frame.length
  const tagged = frame as { readonly _tag?: string; readonly runs?: ReadonlyArray<unknown> }
  return tagged._tag === "Run" ? 1 : tagged._tag === "Batch" ? tagged.runs!.length : 0
}

describe("Pool over TestTransport, under TestClock: the data path", () => {
  it.effect("queued calls run in the order they were submitted (FIFO)", () =>
    withPool({ size: 1, prefetch: 0 }, ({ pool }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const numbers = Array.from({ length: 10 }, (_, i) => i + 1)
        const calls = yield* submitInOrder(pool, numbers)
        expect((yield* pool.stats).queued).toBe(10)
        openGate()
        yield* joinSoon(gateCall)
        for (const call of calls) yield* joinSoon(call)
        expect(ran).toEqual(["Gate 0", ...numbers.map((n) => `Record ${n}`)])
      })
    )
  )

  it.effect("callers waiting for room in a full queue get in in the order they came; offer does not wait", () =>
    withPool({ size: 1, prefetch: 0, queueSize: 2 }, ({ pool }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const numbers = [1, 2, 3, 4, 5]
        // 1 and 2 fill the queue; 3, 4 and 5 wait for room, in that order.
        const calls = yield* submitInOrder(pool, numbers)
        expect((yield* pool.stats).queued).toBe(2)
        expect(Exit.findErrorOption(yield* Effect.exit(pool.offer(Record, 6)))).toMatchObject({
          value: { _tag: "QueueFull" }
        })
        openGate()
        yield* joinSoon(gateCall)
        for (const call of calls) yield* joinSoon(call)
        expect(ran).toEqual(["Gate 0", ...numbers.map((n) => `Record ${n}`)])
      })
    )
  )

  it.effect(
    "a caller interrupted while it waits for room never runs; those behind it move up; an offer's wait ends",
    () =>
      withPool({ size: 1, prefetch: 0, queueSize: 1 }, ({ pool }) =>
        Effect.gen(function* () {
          const gateCall = yield* holdWorker(pool)
          // 1 fills the queue; 2, 3 and 4 wait for room, in that order.
          const [first, second, third, fourth] = yield* submitInOrder(pool, [1, 2, 3, 4])
          expect((yield* pool.stats).queued).toBe(1)
          // An offer that waits for room gives up after its wait, behind the callers already waiting.
          const offered = yield* Effect.forkChild(Effect.exit(pool.offer(Record, 5, { wait: "1 second" })))
          yield* settle
          yield* Fiber.interrupt(second!)
          yield* TestClock.adjust("1 second")
          expect(Exit.findErrorOption(yield* joinSoon(offered))).toMatchObject({ value: { _tag: "QueueFull" } })
          openGate()
          yield* joinSoon(gateCall)
          for (const call of [first!, third!, fourth!]) expect(Exit.isSuccess(yield* joinSoon(call))).toBe(true)
          expect(ran).toEqual(["Gate 0", "Record 1", "Record 3", "Record 4"])
          expect((yield* pool.stats).queued).toBe(0)
        })
      )
  )

  it.effect("an offer admitted within its wait runs; its timer, firing later, changes nothing", () =>
    withPool({ size: 1, prefetch: 0, queueSize: 1 }, ({ pool }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const [first] = yield* submitInOrder(pool, [1])
        const offered = yield* Effect.forkChild(Effect.exit(pool.offer(Record, 2, { wait: "1 second" })))
        yield* settle
        expect((yield* pool.stats).queued).toBe(1)
        openGate()
        yield* joinSoon(gateCall)
        expect(Exit.isSuccess(yield* joinSoon(first!))).toBe(true)
        expect(yield* joinSoon(offered)).toEqual(Exit.succeed(2))
        yield* TestClock.adjust("1 second")
        expect(ran).toEqual(["Gate 0", "Record 1", "Record 2"])
        expect((yield* pool.stats).queued).toBe(0)
      })
    )
  )

  it.effect(
    "Pool.runCallback: an onExit that throws keeps no other call of its reply from settling; it is thrown after",
    () =>
      withPool({ size: 1, concurrency: 3 }, ({ pool }) =>
        Effect.gen(function* () {
          const exits: Array<Exit.Exit<unknown, unknown>> = []
          const rethrown: Array<unknown> = []
          const queueMicrotask = globalThis.queueMicrotask
          // What would be an uncaught exception is caught here instead, to be looked at.
          globalThis.queueMicrotask = (callback) =>
            queueMicrotask(() => {
              try {
                callback()
              } catch (error) {
                rethrown.push(error)
              }
            })
          try {
            for (const n of [1, 2, 3]) {
              Pool.runCallback(pool, Record, n, (exit) => {
                exits.push(exit)
                if (n === 1) throw new Error("the caller's own bug")
              })
            }
            yield* until(() => exits.length === 3 && rethrown.length === 1)
          } finally {
            globalThis.queueMicrotask = queueMicrotask
          }
          expect(exits).toEqual([Exit.succeed(1), Exit.succeed(2), Exit.succeed(3)])
          expect(rethrown).toMatchObject([{ message: "the caller's own bug" }])
          expect(yield* pool.apply(Record, 4)).toBe(4)
          expect((yield* pool.stats).restarts).toBe(0)
        })
      )
  )

  it.effect("something not a task is a defect that says so; items that are not iterable are an InputError", () =>
    withPool({ size: 1 }, ({ pool }) =>
      Effect.gen(function* () {
        const applied = yield* Effect.exit(pool.apply({} as never, 1 as never))
        expect(Exit.isFailure(applied) && Cause.squash(applied.cause)).toBeInstanceOf(TypeError)
        expect(String(Exit.isFailure(applied) && Cause.squash(applied.cause))).toContain("Task.make")
        const mapped = yield* Effect.exit(pool.map(null as never, [1] as never))
        expect(Exit.isFailure(mapped) && Cause.squash(mapped.cause)).toBeInstanceOf(TypeError)
        expect(Exit.findErrorOption(yield* Effect.exit(pool.map(Record, 5 as never)))).toMatchObject({
          value: { _tag: "InputError", task: Record.name }
        })
        expect(yield* pool.map(Record, new Set([1, 2]))).toEqual([1, 2])
        expect(ran).toEqual(["Record 1", "Record 2"])
      })
    )
  )

  it.effect("a task's deadline runs from its dispatch, not from its submission; the call's own timeout wins", () =>
    withPool({ size: 1, prefetch: 0, timeout: "1 hour" }, ({ pool }) =>
      Effect.gen(function* () {
        closeGate()
        const gateCall = yield* Effect.forkChild(Effect.exit(pool.apply(Gate, 0, { timeout: "1 day" })))
        yield* until(() => ran.includes("Gate 0"))
        const queued = yield* Effect.forkChild(Effect.exit(pool.apply(Record, 1, { timeout: "1 second" })))
        yield* untilStats(pool, (stats) => stats.queued === 1)
        // Queued for 5 seconds, longer than its timeout: it has not started, so it has not timed out.
        yield* TestClock.adjust("5 seconds")
        yield* settle
        expect(queued.pollUnsafe()).toBeUndefined()
        openGate()
        expect(yield* joinSoon(queued)).toEqual(Exit.succeed(1))
        expect(yield* joinSoon(gateCall)).toEqual(Exit.succeed(0))
        // The pool's timeout (1 hour) applies to a call without its own: not yet at 59 minutes.
        closeGate()
        const long = yield* Effect.forkChild(Effect.exit(pool.apply(Gate, 2)))
        yield* until(() => ran.includes("Gate 2"))
        yield* TestClock.adjust("3599999 millis")
        yield* settle
        expect(long.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        expect(Exit.findErrorOption(yield* joinSoon(long))).toMatchObject({
          value: { _tag: "TaskTimeout", timeoutMs: 3_600_000 }
        })
      })
    )
  )

  it.effect("a busy worker is refilled when it runs low, in one message per half window, in order", () =>
    withPool({ size: 1, prefetch: 8 }, ({ pool, test }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const numbers = Array.from({ length: 30 }, (_, i) => i + 1)
        const calls = yield* submitInOrder(pool, numbers)
        const child = test.children[0]!
        // The worker holds its running task and at most the first half of its prefetch: the rest waits in the pool.
        const held = (yield* pool.stats).workers[0]!.held
        expect(held).toBeLessThanOrEqual(1 + 4 + 1)
        const before = child.received.length
        openGate()
        yield* joinSoon(gateCall)
        for (const call of calls) yield* joinSoon(call)
        expect(ran).toEqual(["Gate 0", ...numbers.map((n) => `Record ${n}`)])
        // Each message after the gate opened refills the half window (4 runs) at once; only the last may carry fewer.
        const runsPerMessage = child.received
          .slice(before)
          .map(runsIn)
          .filter((runs) => runs > 0)
        expect(runsPerMessage.reduce((a, b) => a + b, 0)).toBe(30 - (held - 1))
        expect(runsPerMessage.slice(0, -1).every((runs) => runs === 4)).toBe(true)
        expect(runsPerMessage.at(-1)).toBeLessThanOrEqual(4)
      })
    )
  )

  it.effect("calls made while serving a child's call are never held by a busy worker, however deep the queue", () =>
    withPool({ size: 1, prefetch: 8 }, ({ pool }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const numbers = Array.from({ length: 30 }, (_, i) => i + 1)
        // As a task that fans out to its own pool through a `PoolHandle`: the parent submits while serving its call.
        const calls = yield* submitInOrder(pool, numbers).pipe(Effect.provideService(ServingChild, true))
        yield* untilStats(pool, (stats) => stats.queued === 30)
        // Held behind the running task, one of them could wait for the very task that waits for it.
        expect((yield* pool.stats).workers[0]!.held).toBe(1)
        openGate()
        yield* joinSoon(gateCall)
        for (const call of calls) yield* joinSoon(call)
        expect(ran).toEqual(["Gate 0", ...numbers.map((n) => `Record ${n}`)])
      })
    )
  )

  it.effect("Pool.apply starts the call on the pool in the context; interrupted while queued, it never runs", () =>
    withPool({ size: 1, prefetch: 0 }, ({ pool }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const viaContext = (n: number) => Pool.apply(Record, n).pipe(Effect.provideService(Pool.Pool, pool))
        const kept = yield* Effect.forkChild(Effect.exit(viaContext(1)))
        const dropped = yield* Effect.forkChild(Effect.exit(viaContext(2)))
        yield* untilStats(pool, (stats) => stats.queued === 2)
        yield* Fiber.interrupt(dropped)
        expect((yield* pool.stats).queued).toBe(1)
        openGate()
        yield* joinSoon(gateCall)
        expect(yield* joinSoon(kept)).toEqual(Exit.succeed(1))
        expect(ran).toEqual(["Gate 0", "Record 1"])
      })
    )
  )

  it.effect("Pool.apply runs the apply of a pool service made by hand (a test double), as it is", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const double = {
        apply: (task: Task.Any, payload: unknown) =>
          Effect.sync(() => {
            seen.push([task.name, payload])
            return 42
          })
      } as unknown as Pool.Service
      const result = yield* Pool.apply(Record, 5).pipe(Effect.provideService(Pool.Pool, double))
      expect(result).toBe(42)
      expect(seen).toEqual([[Record.name, 5]])
    })
  )

  it.effect(
    "a worker with nothing to do takes back what a busy worker holds prefetched and has not started; each run is started once",
    () =>
      withPool({ size: 2, prefetch: 8 }, ({ pool }) =>
        Effect.gen(function* () {
          const gateCall = yield* holdWorker(pool)
          const numbers = Array.from({ length: 30 }, (_, i) => i + 1)
          // Submitted at once: deep enough to prefetch, also behind the task that holds its worker (it might wait for them).
          const calls = yield* Effect.forEach(numbers, (n) => Effect.forkChild(Effect.exit(pool.apply(Record, n))))
          // Every one runs while the gate is still closed: the other worker took back those held behind it.
          for (const call of calls) yield* joinSoon(call)
          expect(ran.filter((entry) => entry.startsWith("Record"))).toHaveLength(30)
          expect((yield* pool.stats).workers.map((worker) => worker.held).sort()).toEqual([0, 1])
          openGate()
          yield* joinSoon(gateCall)
          // A run given back unstarted and sent to the other worker is still one run.
          expect((yield* pool.stats).started).toBe(31)
        })
      )
  )

  it.effect("a crash fails only the task its worker ran (WorkerCrashed); the queued ones run on the replacement", () =>
    Effect.forEach(
      [0, 32],
      (prefetch) =>
        withPool(
          { size: 1, prefetch, backoff: { min: "100 millis", max: "1 second", randomFactor: 0 } },
          ({ pool, test }) =>
            Effect.gen(function* () {
              const gateCall = yield* holdWorker(pool)
              const calls = yield* submitInOrder(pool, [1, 2, 3])
              // Without prefetch the three wait in the pool's queue; with it, the worker holds some too, unstarted.
              yield* untilStats(pool, (stats) =>
                prefetch === 0 ? stats.workers[0]!.held === 1 : stats.workers[0]!.held > 1
              )
              test.children[0]!.exit({ code: 7, signal: null })
              expect(Exit.findErrorOption(yield* joinSoon(gateCall))).toMatchObject({
                value: { _tag: "WorkerCrashed", exitCode: 7, attempts: 1 }
              })
              yield* TestClock.adjust("100 millis")
              for (const call of calls) yield* joinSoon(call)
              expect(ran).toEqual(["Gate 0", "Record 1", "Record 2", "Record 3"])
              expect((yield* pool.stats).failed).toEqual({ WorkerCrashed: 1 })
              // Those the dead worker held unstarted went back to the queue: each is still one run.
              expect((yield* pool.stats).started).toBe(4)
            })
        ),
      { discard: true }
    )
  )

  it.effect("with two workers, a crash fails the task of the worker that died, not the other's", () =>
    withPool({ size: 2, backoff: { min: "100 millis", max: "1 second", randomFactor: 0 } }, ({ pool, test }) =>
      Effect.gen(function* () {
        const calls = [yield* holdWorker(pool, 1), yield* holdWorker(pool, 2)]
        expect(test.alive().length).toBe(2)
        test.children[0]!.exit({ code: 1, signal: null })
        yield* untilStats(pool, (stats) => stats.failed.WorkerCrashed === 1)
        yield* settle
        // One call failed with its worker; the other's worker is untouched and its call still runs.
        const [done, running] = calls[0]!.pollUnsafe() === undefined ? [calls[1]!, calls[0]!] : [calls[0]!, calls[1]!]
        expect(Exit.findErrorOption(yield* joinSoon(done))).toMatchObject({ value: { _tag: "WorkerCrashed" } })
        expect(running.pollUnsafe()).toBeUndefined()
        expect(test.children[1]!.exitStatus()).toBeUndefined()
        openGate()
        expect(Exit.isSuccess(yield* joinSoon(running))).toBe(true)
      })
    )
  )
})

describe("Pool over TestTransport, under TestClock: a user's balancer", () => {
  it.effect(
    "one that throws, or picks what is not a worker with room, fails only the job it placed; the pool serves on",
    () => {
      let mode: "right" | "throws" | "past the end" | "busy worker" = "right"
      const leastBusy = Balancer.leastBusy()
      const balancer: Balancer.Balancer = {
        name: "moody",
        pick: (workers, job) => {
          if (mode === "throws") throw new Error("no worker for you")
          if (mode === "past the end") return workers.length
          if (mode === "busy worker") return 0
          return leastBusy.pick(workers, job)
        }
      }
      return withPool({ size: 1, prefetch: 0, balancer }, ({ pool }) =>
        Effect.gen(function* () {
          yield* pool.ready
          const defectOf = (exit: Exit.Exit<unknown, unknown>) =>
            Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : "succeeded"
          mode = "throws"
          expect(defectOf(yield* Effect.exit(pool.apply(Record, 1)))).toBe("Error: no worker for you")
          mode = "past the end"
          expect(defectOf(yield* Effect.exit(pool.apply(Record, 2)))).toBe(
            'Error: the balancer "moody" picked 1, not the index of a worker with room (Balancer.hasRoom)'
          )
          // The only worker runs Gate: it has no room for another job.
          mode = "right"
          const gateCall = yield* holdWorker(pool)
          mode = "busy worker"
          expect(defectOf(yield* Effect.exit(pool.apply(Record, 3)))).toContain('"moody" picked 0, not the index')
          mode = "right"
          openGate()
          expect(Exit.isSuccess(yield* joinSoon(gateCall))).toBe(true)
          expect(yield* pool.apply(Record, 4)).toBe(4)
          expect(ran).toEqual(["Gate 0", "Record 4"])
          expect((yield* pool.stats).queued).toBe(0)
        })
      )
    }
  )

  it.effect("one that is not a Balancer is an InvalidOption at Pool.make", () =>
    Effect.gen(function* () {
      for (const balancer of [5, {}, { name: "x", pick: "first" }]) {
        const error = yield* Effect.flip(
          Pool.make({ tasks, balancer: balancer as never }).pipe(
            Effect.scoped,
            Effect.provideService(Transport.Transport, TestTransport.make().transport)
          )
        )
        expect(error).toMatchObject({ _tag: "InvalidOption", option: "balancer" })
      }
    })
  )
})

describe("Pool over TestTransport, under TestClock: a map's onProgress", () => {
  it.effect("one that throws fails its map with the error as a defect, once; the calls beside it settle", () =>
    withPool({ size: 2, prefetch: 0 }, ({ pool }) =>
      Effect.gen(function* () {
        yield* pool.ready
        let calls = 0
        const onProgress = () => {
          calls++
          throw new Error("the progress bar broke")
        }
        const beside = yield* Effect.forkChild(pool.map(Record, [100, 101, 102], { chunkSize: 1 }))
        const exit = yield* Effect.exit(pool.map(Record, [1, 2, 3, 4], { chunkSize: 1, onProgress }))
        expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toBe("Error: the progress bar broke")
        expect(calls).toBe(1)
        expect(yield* joinSoon(beside)).toEqual([100, 101, 102])
        expect(yield* pool.apply(Record, 5)).toBe(5)
        // An empty map reports once, as finished: the same.
        const empty = yield* Effect.exit(pool.map(Record, [], { onProgress }))
        expect(Exit.isFailure(empty) && String(Cause.squash(empty.cause))).toBe("Error: the progress bar broke")
      })
    )
  )

  it.effect("one that is not a function is an InvalidOption, and nothing runs", () =>
    withPool({ size: 1 }, ({ pool }) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(pool.map(Record, [1, 2], { onProgress: 42 as never }))
        expect(error).toMatchObject({ _tag: "InvalidOption", option: "onProgress" })
        expect(ran).toEqual([])
      })
    )
  )
})

describe("Pool over TestTransport, under TestClock: supervision and shutdown", () => {
  const backoff = { min: "100 millis", max: "1 second", randomFactor: 0 } as const

  it.effect("a crashed task is retried on the replacement, which starts exactly min after each crash", () =>
    withPool({ size: 1, backoff, intensity: 10 }, ({ pool, test }) =>
      Effect.gen(function* () {
        const call = yield* Effect.forkChild(Effect.exit(pool.apply(Gate, 0, { retries: 2 })))
        // A worker that died running a task was healthy (a task killed it): its slot backs off from min again each
        // time, rather than doubling as for a crash loop at start.
        for (const [attempt, delay] of [
          [1, 100],
          [2, 100]
        ] as const) {
          yield* until(() => ran.length === attempt)
          test.children[attempt - 1]!.exit({ code: 5, signal: null })
          yield* untilStats(pool, (stats) => stats.restarts === attempt)
          yield* TestClock.adjust(`${delay - 1} millis`)
          yield* settle
          expect(test.children.length).toBe(attempt)
          yield* TestClock.adjust("1 millis")
          yield* until(() => test.children.length === attempt + 1)
        }
        // The third run, on the third worker, is the last: its crash fails the call.
        yield* until(() => ran.length === 3)
        test.children[2]!.exit({ code: 5, signal: null })
        expect(Exit.findErrorOption(yield* joinSoon(call))).toMatchObject({
          value: { _tag: "WorkerCrashed", attempts: 3, exitCode: 5 }
        })
        expect(ran).toEqual(["Gate 0", "Gate 0", "Gate 0"])
        expect((yield* pool.stats).retried).toBe(2)
      })
    )
  )

  it.effect("past the intensity under degrade, the pool keeps its workers, restarting at the backoff's max", () =>
    withPool({ size: 1, backoff, intensity: 1, period: "10 seconds", onExceeded: "degrade" }, ({ pool, test }) =>
      Effect.gen(function* () {
        yield* until(() => test.children.length === 1)
        test.children[0]!.exit({ code: 1, signal: null })
        yield* untilStats(pool, (stats) => stats.restarts === 1)
        expect((yield* pool.stats).degraded).toBe(false)
        yield* TestClock.adjust("100 millis")
        yield* until(() => test.children.length === 2)
        // The second failure within the period is past the intensity of 1: the next start waits the max, 1 s.
        test.children[1]!.exit({ code: 1, signal: null })
        yield* untilStats(pool, (stats) => stats.restarts === 2 && stats.degraded)
        yield* TestClock.adjust("999 millis")
        yield* settle
        expect(test.children.length).toBe(2)
        yield* TestClock.adjust("1 millis")
        yield* until(() => test.children.length === 3)
        expect(yield* pool.apply(Record, 1)).toBe(1)
      })
    )
  )

  it.effect("past the intensity under giveUp, queued and later calls fail with RestartIntensityExceeded", () =>
    withPool(
      { size: 1, prefetch: 0, backoff, intensity: 1, period: "10 seconds", onExceeded: "giveUp" },
      ({ pool, test }) =>
        Effect.gen(function* () {
          yield* until(() => test.children.length === 1)
          test.children[0]!.exit({ code: 1, signal: null })
          yield* untilStats(pool, (stats) => stats.restarts === 1)
          yield* TestClock.adjust("100 millis")
          const gateCall = yield* holdWorker(pool)
          const [queued] = yield* submitInOrder(pool, [1])
          test.children[1]!.exit({ code: 1, signal: null })
          expect(Exit.findErrorOption(yield* joinSoon(gateCall))).toMatchObject({ value: { _tag: "WorkerCrashed" } })
          expect(Exit.findErrorOption(yield* joinSoon(queued!))).toMatchObject({
            value: { _tag: "RestartIntensityExceeded", restarts: 2, periodMs: 10_000 }
          })
          expect(Exit.findErrorOption(yield* Effect.exit(pool.apply(Record, 2)))).toMatchObject({
            value: { _tag: "RestartIntensityExceeded" }
          })
          expect(test.children.length).toBe(2)
        })
    )
  )

  it.effect("closing drains everything submitted (drain: all): the queued calls run, then the worker is closed", () =>
    withPool({ size: 1, prefetch: 0 }, ({ pool, test, scope }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const calls = yield* submitInOrder(pool, [1, 2])
        const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("1 second")
        expect(closing.pollUnsafe()).toBeUndefined()
        // New work is refused while the pool drains.
        expect(Exit.findErrorOption(yield* Effect.exit(pool.apply(Record, 3)))).toMatchObject({
          value: { _tag: "PoolShuttingDown" }
        })
        openGate()
        yield* driven(Fiber.join(closing))
        expect(yield* joinSoon(gateCall)).toEqual(Exit.succeed(0))
        for (const [index, call] of calls.entries()) expect(yield* joinSoon(call)).toEqual(Exit.succeed(index + 1))
        expect(ran).toEqual(["Gate 0", "Record 1", "Record 2"])
        expect(test.children[0]!.received.at(-1)).toEqual({ _tag: "Close" })
        expect(test.children[0]!.exitStatus()).toMatchObject({ code: 0, signal: null })
      })
    )
  )

  it.effect("closing with drain: inFlight fails the queued calls at once and lets the running one finish", () =>
    withPool({ size: 1, prefetch: 0, shutdown: { drain: "inFlight" } }, ({ pool, scope }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const calls = yield* submitInOrder(pool, [1, 2])
        const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
        for (const call of calls) {
          expect(Exit.findErrorOption(yield* joinSoon(call))).toMatchObject({
            value: { _tag: "ShutdownError", phase: "queued" }
          })
        }
        openGate()
        yield* driven(Fiber.join(closing))
        expect(yield* joinSoon(gateCall)).toEqual(Exit.succeed(0))
        expect(ran).toEqual(["Gate 0"])
      })
    )
  )

  it.effect("the drain stops exactly at its timeout: what is left fails with ShutdownError", () =>
    withPool({ size: 1, prefetch: 0, shutdown: { timeout: "2 seconds" } }, ({ pool, test, scope }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const [queued] = yield* submitInOrder(pool, [1])
        const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("1999 millis")
        yield* settle
        expect(queued!.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        expect(Exit.findErrorOption(yield* joinSoon(queued!))).toMatchObject({
          value: { _tag: "ShutdownError", phase: "queued" }
        })
        yield* driven(Fiber.join(closing))
        expect(Exit.findErrorOption(yield* joinSoon(gateCall))).toMatchObject({
          value: { _tag: "ShutdownError", phase: "running" }
        })
        expect(test.children[0]!.signals[0]).toBe("SIGTERM")
        expect(ran).toEqual(["Gate 0"])
      })
    )
  )

  it.effect("a scope closed by an interruption stops at once (onInterrupt: stop): no drain", () =>
    withPool({ size: 1, prefetch: 0 }, ({ pool, test, scope }) =>
      Effect.gen(function* () {
        const gateCall = yield* holdWorker(pool)
        const [queued] = yield* submitInOrder(pool, [1])
        const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.interrupt(0)))
        expect(Exit.findErrorOption(yield* joinSoon(queued!))).toMatchObject({
          value: { _tag: "ShutdownError", phase: "queued" }
        })
        yield* driven(Fiber.join(closing))
        expect(Exit.findErrorOption(yield* joinSoon(gateCall))).toMatchObject({
          value: { _tag: "ShutdownError", phase: "running" }
        })
        expect(test.children[0]!.signals[0]).toBe("SIGTERM")
        expect(ran).toEqual(["Gate 0"])
      })
    )
  )
})
