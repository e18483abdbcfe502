/**
 * Actors messaging actors across processes: `ping` and `pong`, each an actor
 * alone in its own process, exchange 10,000 messages (5,000 pings, each
 * answered). `ping` knows `pong` by an `ActorRef` it was sent in a message
 * (`Actor.refSchema`): an `ask` from inside a child goes through the parent
 * to the other's mailbox, and the answer comes back the same way. When the
 * rally is over, `ping` tells the parent through a service the parent hosts
 * (`Channel.serve`). Prints the count and the rate.
 *
 *     node examples/ping-pong.ts [messages]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Actor, Channel, Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Deferred, Effect, Schema } from "effect"
import { Rpc } from "effect/rpc"

/** The parent's side: told once, with the count, when the rally is over. */
export const Finish = Channel.make("Finish", { Done: { payload: Schema.Int } })

/** Answers each ping with the next number. */
export const Pong = Actor.make("Pong", [Rpc.make("Ping", { payload: { n: Schema.Int }, success: Schema.Int })])

export const PongBehaviour = Actor.behaviour(
  Pong,
  Effect.succeed({ Ping: ({ payload }) => Effect.succeed(payload.n + 1) })
)

/** Rallies with the `Pong` actor it is sent: pings it until `total` messages went both ways. */
export const Ping = Actor.make("Ping", [
  Rpc.make("Rally", {
    payload: { pong: Actor.refSchema(Pong), total: Schema.Int, finish: Channel.handleSchema(Finish) }
  })
])

export const PingBehaviour = Actor.behaviour(
  Ping,
  Effect.succeed({
    Rally: ({ payload }) =>
      Effect.gen(function* () {
        // Each ping is a message to the other process, each answer a message back.
        let n = 0
        while (n < payload.total) n = yield* payload.pong.ask("Ping", { n: n + 1 })
        yield* Channel.call(payload.finish, "Done", n)
      }).pipe(Effect.orDie)
  })
)

if (import.meta.main) {
  const total = Number(process.argv[2] ?? 10_000)
  const main = Effect.gen(function* () {
    const finished = yield* Deferred.make<number>()
    const finish = yield* Channel.serve(Finish, { Done: (n) => Deferred.succeed(finished, n) })
    const sup = yield* Supervisor.start({}, [
      Supervisor.worker("ping", PingBehaviour),
      Supervisor.worker("pong", PongBehaviour)
    ])
    const ping = sup.ref("ping", Ping)
    const started = performance.now()
    // `tell`: the rally runs in the two children; the parent hears of its end through `Finish`.
    yield* ping.tell("Rally", { pong: sup.ref("pong", Pong), total, finish })
    const count = yield* Deferred.await(finished)
    const seconds = (performance.now() - started) / 1000
    yield* Console.log(`messages=${count} seconds=${seconds.toFixed(2)} rate=${Math.round(count / seconds)}/s`)
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
