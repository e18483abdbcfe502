/**
 * Sessions of a hosted primitive on real processes and threads: the host
 * learns that a process which took something is gone when it is killed, and
 * its own calls use the local session, which never goes.
 */
import { it } from "@effect/vitest"
import { Channel, Session } from "@troupe/core"
import { Deferred, Effect, Fiber } from "effect"
import { expect } from "vitest"
import { backends, withPool } from "./fixtures/pool.ts"
import { Held, TakeAndBlock } from "./fixtures/session.ts"

for (const backend of backends) {
  it.live(`${backend}: the host learns when a process that took something dies`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const table = Session.makeTable()
        const taken = yield* Deferred.make<{ session: string; pid: number }>()
        const released = yield* Deferred.make<string>()
        const held = yield* Channel.serve(Held, {
          Open: table.hold,
          Take: (taker) =>
            Effect.sync(() => {
              table.onGone(taker.session, () => Deferred.doneUnsafe(released, Effect.succeed(taker.session)))
              Deferred.doneUnsafe(taken, Effect.succeed(taker))
            })
        })
        const run = yield* Effect.forkChild(Effect.exit(pool.apply(TakeAndBlock, { held, exit: backend === "thread" })))
        const taker = yield* Deferred.await(taken)
        expect(taker.session).not.toBe(Session.local)
        expect(table.isGone(taker.session)).toBe(false)
        // A process is killed from outside; a thread ends itself (process.exit in a worker thread).
        if (backend === "process") process.kill(taker.pid, "SIGKILL")
        const session = yield* Deferred.await(released).pipe(Effect.timeout("30 seconds"))
        expect(session).toBe(taker.session)
        expect(table.isGone(taker.session)).toBe(true)
        yield* Fiber.interrupt(run)
      }).pipe(Effect.scoped)
    )
  )
}

it.effect("the host's own process uses the local session, which never goes", () =>
  Effect.gen(function* () {
    const table = Session.makeTable()
    const held = yield* Channel.serve(Held, { Open: table.hold, Take: () => Effect.void })
    const session = Session.of(held)
    expect(session).toBe(Session.local)
    let released = false
    table.onGone(session, () => {
      released = true
    })
    expect(released).toBe(false)
    expect(table.isGone(session)).toBe(false)
  }).pipe(Effect.scoped)
)
