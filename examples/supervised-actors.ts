/**
 * A supervision tree, as in Erlang/OTP: a `oneForOne` supervisor with two
 * workers, each an actor alone in its own process. `counter` keeps a count;
 * `flaky` ends its process with `process.exit(1)` on every third message it
 * handles. The supervisor restarts `flaky` each time (and only `flaky`), the
 * ask that crashed it fails with a typed `ActorDied`, and the counter never
 * notices: it ends at exactly 100. Then a dynamic child (OTP's
 * `start_child`): a session counter started on the running tree, asked,
 * terminated and deleted.
 *
 *     node examples/supervised-actors.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Actor, Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Ref, Schema, Stream } from "effect"
import { Rpc } from "effect/rpc"

export const Counter = Actor.make("Counter", [
  Rpc.make("Increment", { payload: { by: Schema.Int }, success: Schema.Int }),
  Rpc.make("Get", { success: Schema.Int })
])

export const CounterBehaviour = Actor.behaviour(
  Counter,
  Effect.gen(function* () {
    const count = yield* Ref.make(0)
    return {
      Increment: ({ payload }) => Ref.updateAndGet(count, (n) => n + payload.by),
      Get: () => Ref.get(count)
    }
  })
)

export const Flaky = Actor.make("Flaky", [Rpc.make("Ping", { payload: { n: Schema.Int }, success: Schema.Int })])

export const FlakyBehaviour = Actor.behaviour(
  Flaky,
  Effect.gen(function* () {
    // Built again in each new process after a crash: the count starts over with every instance.
    const handled = yield* Ref.make(0)
    return {
      Ping: ({ payload }) =>
        Effect.flatMap(
          Ref.updateAndGet(handled, (n) => n + 1),
          (n) => (n % 3 === 0 ? Effect.sync(() => process.exit(1)) : Effect.succeed(payload.n))
        )
    }
  })
)

const increments = 100

const allRunning = (node: Supervisor.TreeNode): boolean =>
  node.status === "running" && (node.children ?? []).every(allRunning)

if (import.meta.main) {
  const main = Effect.gen(function* () {
    // `flaky` crashes on purpose about 33 times in a few seconds. OTP's default (1 restart in 5 s) would
    // (rightly) make the supervisor give up; allow up to 1000 restarts within 60 s instead.
    const sup = yield* Supervisor.start({ strategy: "oneForOne", intensity: 1000, period: "60 seconds" }, [
      Supervisor.worker("counter", CounterBehaviour),
      Supervisor.worker("flaky", FlakyBehaviour, { restart: "permanent", shutdown: 1000 })
    ])

    // Subscribe before anything crashes: `startImmediately` runs the fiber up to its subscription now.
    const lastExit = new Map<string, string>()
    let restartLines = 0
    yield* Effect.forkChild(
      Stream.runForEach(sup.events, (event) => {
        switch (event._tag) {
          case "ChildExited":
            lastExit.set(event.path, `pid ${event.pid} exited ${event.reason}`)
            return Console.log(`exited: ${event.path} (pid ${event.pid}, ${event.reason})`)
          case "ChildRestarting":
            restartLines++
            return Console.log(
              `restart: ${event.path} (${lastExit.get(event.path)}, restarting after ${event.delayMs} ms)`
            )
          default:
            return Effect.void
        }
      }),
      { startImmediately: true }
    )

    const counter = sup.ref("counter", Counter)
    const flaky = sup.ref("flaky", Flaky)
    let pongs = 0
    let died = 0
    for (let i = 1; i <= increments; i++) {
      yield* counter.tell("Increment", { by: 1 })
      const answered = yield* flaky.ask("Ping", { n: i }).pipe(
        Effect.as(true),
        Effect.catchTag("ActorDied", () => Effect.succeed(false))
      )
      if (answered) pongs++
      else died++
    }
    const count = yield* counter.ask("Get", undefined)

    // The last crash may still be restarting, and its event still on its way to the printer: give the
    // tree a moment to be whole again, so that the summary comes last and counts every restart printed.
    let tree = yield* sup.tree
    const flakyRestarts = (node: Supervisor.TreeNode) =>
      node.children?.find((child) => child.id === "flaky")?.restarts ?? 0
    for (let waited = 0; !(allRunning(tree) && restartLines === flakyRestarts(tree)) && waited < 10_000; waited += 50) {
      yield* Effect.sleep("50 millis")
      tree = yield* sup.tree
    }
    // Dynamic children, as OTP's start_child / terminate_child / delete_child: a session started on the running tree.
    yield* sup.startChild(Supervisor.worker("session-1", CounterBehaviour, { restart: "transient" }))
    const session = yield* sup.ref("session-1", Counter).ask("Increment", { by: 5 })
    yield* sup.terminateChild("session-1")
    yield* sup.deleteChild("session-1")
    const ids = (yield* sup.whichChildren).map((child) => child.id)
    yield* Console.log(`dynamic: session-1 answered ${session}, children after delete: ${ids.join(",")}`)
    yield* Console.log(`flaky: ${pongs} pongs, ${died} asks failed with ActorDied`)
    yield* Console.log(`counter=${count} flaky_restarts=${flakyRestarts(tree)} tree_ok=${allRunning(tree)}`)
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
