/**
 * The pool's data and supervision paths in memory: a `TestTransport` (the
 * child runner in this process) and a `TestClock`, so that timeouts, retries,
 * backoff, restart intensity and shutdown are exact and need no real process
 * and no real wait. What only real processes show stays in @troupe/node.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Keyed, Pool, Task, TestTransport, Transport } from "@troupe/core"
import { Effect, Exit, Fiber, Schema, Scope } from "effect"
import { Rpc } from "effect/rpc"
import { TestClock } from "effect/testing"
import { closeDriven, settle, until, untilEffect } from "./fixtures/clock.ts"

const Square = Task.make("TestTransport.test/Square", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(n * n)
})

/** Never ends, and ignores interruption: its worker has to be replaced. */
const Stuck = Task.make("TestTransport.test/Stuck", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: () => Effect.uninterruptible(Effect.never)
})

/** The transport of the test that is running: a task's handler reaches its own children through it. */
let current: TestTransport.TestTransport = TestTransport.make()

/** Kills the child that runs it (code 3), as `process.exit(3)` would. */
const Crash = Task.make("TestTransport.test/Crash", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: () =>
    Effect.andThen(
      Effect.sync(() => {
        for (const child of current.alive()) child.exit({ code: 3, signal: null })
      }),
      Effect.never
    )
})

const tasks = [Square, Stuck, Crash]

const Sleeper = Actor.make("TestTransport.test/Sleeper", [
  Rpc.make("Ping", { success: Schema.String }),
  Rpc.make("Hang", {})
] as const)

const SleeperBehaviour = Actor.behaviour(
  Sleeper,
  Effect.succeed({ Ping: () => Effect.succeed("pong"), Hang: () => Effect.never })
)

/** Waits, turn by turn, until the pool's stats satisfy `check` (a restart counted is a backoff started). */
const untilStats = (pool: Pool.Service, check: (stats: Pool.Stats) => boolean) =>
  Effect.andThen(untilEffect(pool.stats, check), settle)

/** Runs `body` with a pool over a fresh in-memory transport; the pool's shutdown is driven by the test clock. */
const withPool = <A, E>(
  options: Pool.Options,
  body: (pool: Pool.Service, test: TestTransport.TestTransport) => Effect.Effect<A, E>,
  testOptions?: TestTransport.Options
) =>
  Effect.gen(function* () {
    const test = TestTransport.make(testOptions)
    current = test
    const scope = yield* Scope.make()
    const pool = yield* Pool.make({ tasks, ...options }).pipe(
      Scope.provide(scope),
      Effect.provideService(Transport.Transport, test.transport)
    )
    const result = yield* body(pool, test)
    yield* closeDriven(scope)
    return result
  })

describe("Pool over TestTransport, under TestClock", () => {
  it.effect("runs tasks in memory, one child per worker", () =>
    withPool({ size: 2 }, (pool, test) =>
      Effect.gen(function* () {
        expect(yield* pool.apply(Square, 7)).toBe(49)
        expect(yield* pool.map(Square, [1, 2, 3])).toEqual([1, 4, 9])
        expect(test.children.length).toBe(2)
      })
    )
  )

  it.effect("a task timeout fires exactly at its deadline on the pool's clock, and replaces the stuck worker", () =>
    withPool({ size: 1, interruptGrace: "500 millis" }, (pool, test) =>
      Effect.gen(function* () {
        // The worker is ready (its module loads in real time): the deadline starts at dispatch.
        expect(yield* pool.apply(Square, 2)).toBe(4)
        const call = yield* Effect.forkChild(Effect.exit(pool.apply(Stuck, 1, { timeout: "1 second" })))
        yield* until(() => JSON.stringify(test.children[0]!.received).includes(Stuck.name))
        yield* TestClock.adjust("999 millis")
        yield* settle
        expect(call.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        const exit = yield* Fiber.join(call)
        expect(exit).toMatchObject({ _tag: "Failure" })
        expect(Exit.findErrorOption(exit)).toMatchObject({ value: { _tag: "TaskTimeout", timeoutMs: 1000 } })
        // The worker ignores the interrupt (a handler that never ends): replaced after the grace, not before.
        yield* TestClock.adjust("499 millis")
        yield* settle
        expect(test.children[0]!.signals).toEqual([])
        yield* TestClock.adjust("1 millis")
        yield* until(() => test.children[0]!.signals.length > 0)
        expect(test.children[0]!.signals[0]).toBe("SIGTERM")
      })
    )
  )

  it.effect("a crash is retried as many times as the task allows, each retry counted, then fails", () =>
    withPool({ size: 1, backoff: { min: "100 millis", max: "1 second", randomFactor: 0 } }, (pool, test) =>
      Effect.gen(function* () {
        const call = yield* Effect.forkChild(Effect.exit(pool.apply(Crash, 1, { retries: 2 })))
        // Each crash restarts the worker after its backoff; the clock moves on until the call has its outcome.
        yield* untilStats(pool, (stats) => stats.restarts >= 1)
        while (call.pollUnsafe() === undefined) yield* TestClock.adjust("100 millis")
        const exit = yield* Fiber.join(call)
        expect(Exit.findErrorOption(exit)).toMatchObject({
          value: { _tag: "WorkerCrashed", attempts: 3, exitCode: 3 }
        })
        const stats = yield* pool.stats
        expect(stats.retried).toBe(2)
        expect(stats.failed).toEqual({ WorkerCrashed: 1 })
        // One worker per attempt: each retry ran on the replacement of the worker it killed.
        expect(test.children.slice(0, 3).map((child) => child.exitStatus()?.code)).toEqual([3, 3, 3])
      })
    )
  )

  it.effect("backoff after a crash at start is exact: the next worker starts at min, then twice that", () =>
    withPool(
      { size: 1, backoff: { min: "100 millis", max: "10 seconds", randomFactor: 0 }, intensity: 100 },
      (pool, test) =>
        Effect.gen(function* () {
          yield* untilStats(pool, (stats) => stats.restarts === 1)
          expect(test.children[0]!.exitStatus()).toMatchObject({ code: 1 })
          // First failure: 100 ms.
          yield* TestClock.adjust("99 millis")
          yield* settle
          expect(test.children.length).toBe(1)
          yield* TestClock.adjust("1 millis")
          yield* until(() => test.children.length === 2)
          // Second consecutive failure: 200 ms.
          yield* untilStats(pool, (stats) => stats.restarts === 2)
          yield* TestClock.adjust("199 millis")
          yield* settle
          expect(test.children.length).toBe(2)
          yield* TestClock.adjust("1 millis")
          yield* until(() => test.children.length === 3)
        }),
      // Every child dies at once, before it is ready: a crash loop at start.
      { onSpawn: () => ({ code: 1, signal: null }) }
    )
  )

  it.effect("past the restart intensity under giveUp, every caller gets RestartIntensityExceeded", () =>
    withPool(
      {
        size: 1,
        intensity: 2,
        period: "10 seconds",
        onExceeded: "giveUp",
        backoff: { min: "10 millis", max: "10 millis", randomFactor: 0 }
      },
      (pool, test) =>
        Effect.gen(function* () {
          // Three crashes within the period: the third is past the intensity of 2.
          for (let crash = 1; crash <= 3; crash++) {
            yield* until(() => test.children.length === crash)
            test.children[crash - 1]!.exit({ code: 9, signal: null })
            yield* untilStats(pool, (stats) => stats.restarts === crash)
            yield* TestClock.adjust("10 millis")
          }
          const exit = yield* Effect.exit(pool.apply(Square, 2))
          expect(Exit.findErrorOption(exit)).toMatchObject({
            value: { _tag: "RestartIntensityExceeded", restarts: 3, periodMs: 10_000 }
          })
          expect(test.children.length).toBe(3)
        })
    )
  )

  it.effect("shutdown drains: a call in flight gets its reply, then the worker is told to close and exits 0", () =>
    withPool({ size: 1 }, (pool, test) =>
      Effect.gen(function* () {
        yield* until(() => test.children.length === 1)
        expect(yield* pool.apply(Square, 3)).toBe(9)
        return test
      })
    ).pipe(
      Effect.map((test) => {
        const child = test.children[0]!
        expect(child.received.at(-1)).toEqual({ _tag: "Close" })
        expect(child.exitStatus()).toMatchObject({ code: 0, signal: null })
        expect(child.signals).toEqual([])
        return child
      })
    )
  )
})

describe("Actors over TestTransport, under TestClock", () => {
  it.effect("an ask times out exactly at the mailbox's askTimeout on the tree's clock", () =>
    Effect.gen(function* () {
      const test = TestTransport.make()
      const scope = yield* Scope.make()
      const sleepers = yield* Keyed.make(SleeperBehaviour, { hosts: 1, mailbox: { askTimeout: "5 seconds" } }).pipe(
        Scope.provide(scope),
        Effect.provideService(Transport.Transport, test.transport)
      )
      expect(yield* sleepers.get("a").ask("Ping", undefined)).toBe("pong")
      const ask = yield* Effect.forkChild(Effect.exit(sleepers.get("a").ask("Hang", undefined)))
      yield* settle
      yield* TestClock.adjust("4999 millis")
      yield* settle
      expect(ask.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.join(ask)
      expect(Exit.findErrorOption(exit)).toMatchObject({ value: { _tag: "AskTimeout", timeoutMs: 5000 } })
      yield* closeDriven(scope)
    })
  )
})
