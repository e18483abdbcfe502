/**
 * Akka's manual backoff reset on real processes: an actor in a supervised
 * child says it is healthy (`Actor.healthy`, a `Healthy` frame to the
 * parent), and its next crash backs off from `min` again.
 */
import { it } from "@effect/vitest"
import { Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Effect, Ref, Stream } from "effect"
import { expect } from "vitest"
import { eventually } from "./fixtures/pool.ts"
import { Conn, ConnBehaviour } from "./fixtures/supervisionActors.ts"

it.live(
  "an actor that says it is healthy resets its backoff: the next crash waits min, not the doubled delay",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start(
        {
          intensity: 20,
          period: "1 minute",
          // resetAfter an hour: no run is long enough to reset the backoff by itself.
          backoff: { min: "100 millis", max: "1 minute", randomFactor: 0, resetAfter: "1 hour" }
        },
        [Supervisor.worker("conn", ConnBehaviour)]
      )
      const events = yield* Ref.make<ReadonlyArray<Supervisor.Event>>([])
      yield* Stream.runForEach(sup.events, (event) => Ref.update(events, (all) => [...all, event])).pipe(
        Effect.forkScoped
      )
      yield* Effect.sleep(20)
      const conn = sup.ref("conn", Conn)
      const delays = Effect.map(Ref.get(events), (all) =>
        all.flatMap((event) => (event._tag === "ChildRestarting" ? [event.delayMs] : []))
      )
      /** Crashes the actor and waits until it serves again from a new process. */
      const crash = Effect.gen(function* () {
        const before = (yield* conn.ask("Info", undefined)).pid
        const restarts = (yield* delays).length
        yield* Effect.exit(conn.ask("Crash", undefined))
        yield* eventually(delays, (all) => all.length > restarts)
        const after = yield* conn.ask("Info", undefined)
        expect(after.pid).not.toBe(before)
      })
      yield* crash
      yield* crash
      yield* crash
      expect(yield* delays).toEqual([100, 200, 400])
      yield* conn.ask("Healthy", undefined)
      yield* eventually(Ref.get(events), (all) => all.some((event) => event._tag === "ChildHealthy"))
      yield* crash
      expect(yield* delays).toEqual([100, 200, 400, 100])
      // Without another reset the run of failures goes on from there.
      yield* crash
      expect(yield* delays).toEqual([100, 200, 400, 100, 200])
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)
