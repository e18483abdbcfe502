/**
 * A pool waits for events, not for time: under a `TestClock` that never
 * moves, `ready` returns once every worker is up, and closing the pool's
 * scope drains the call in flight, stops every worker and returns once
 * each is reaped. A wait that polled the pool's clock (sleeping between
 * checks) would never end here: the bounds below count turns, not time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Pool, Task, TestTransport, Transport } from "@troupe/core"
import { Deferred, Effect, Exit, type Fiber, Schema, Scope } from "effect"

/** Answers once the test opens its gate: a call in flight while the pool closes. */
let gate = Deferred.makeUnsafe<void>()
const Gated = Task.make("PoolWaits.test/Gated", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.as(Deferred.await(gate), n * n)
})

/** Waits, turn by turn, until `fiber` is done; a bound on turns (never on time) catches a wait that never ends. */
const joinByTurns = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function* () {
    for (let turn = 0; turn < 100_000 && fiber.pollUnsafe() === undefined; turn++) yield* Effect.yieldNow
    const exit = fiber.pollUnsafe()
    expect(exit).toBeDefined()
    return exit!
  })

describe("Pool waits on events", () => {
  it.effect("ready and a draining shutdown complete while the test clock stands still", () =>
    Effect.gen(function* () {
      gate = Deferred.makeUnsafe<void>()
      const test = TestTransport.make()
      const scope = yield* Scope.make()
      const pool = yield* Pool.make({ size: 2, tasks: [Gated] }).pipe(
        Scope.provide(scope),
        Effect.provideService(Transport.Transport, test.transport)
      )
      const ready = yield* Effect.forkChild(pool.ready)
      expect(Exit.isSuccess(yield* joinByTurns(ready))).toBe(true)
      expect((yield* pool.stats).workers.map((worker) => worker.state)).toEqual(["ready", "ready"])

      const call = yield* Effect.forkChild(pool.apply(Gated, 3))
      for (let turn = 0; turn < 100_000 && (yield* pool.stats).inFlight === 0; turn++) yield* Effect.yieldNow
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      for (let turn = 0; turn < 1000; turn++) yield* Effect.yieldNow
      // Draining: the call in flight holds the shutdown, and its worker is still there.
      expect(closing.pollUnsafe()).toBeUndefined()
      expect(test.alive().length).toBe(2)
      Deferred.doneUnsafe(gate, Exit.void)
      expect(yield* joinByTurns(call)).toEqual(Exit.succeed(9))
      expect(Exit.isSuccess(yield* joinByTurns(closing))).toBe(true)
      expect(test.alive()).toEqual([])
      expect(test.children.map((child) => child.exitStatus()?.code)).toEqual([0, 0])
    })
  )
})
