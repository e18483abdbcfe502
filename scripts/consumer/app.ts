/**
 * The consumer test's program: what a new user writes against the installed
 * packages. It runs a `Process`, a pool on each backend, a supervised actor,
 * a keyed actor and the same actor through `@troupe/cluster`'s keyed refs on
 * their one-machine layer, and a task from a second module of the app
 * (`./tasks.ts`), checks every result, and prints `consumer: ok`.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { KeyedRefs } from "@troupe/cluster"
import { Actor, Keyed, Pool, Process, Supervisor, Task } from "@troupe/core"
import { NodePool, NodeProcess } from "@troupe/node"
import { Console, Effect, Ref, Schema } from "effect"
import { Rpc } from "effect/rpc"
import { Cube } from "./tasks.ts"

export const Square = Task.make("Square", {
  payload: Schema.Int,
  success: Schema.Int,
  handler: (n) => Effect.succeed(n * n)
})

export const WhereAmI = Task.make("WhereAmI", {
  payload: Schema.Void,
  success: Schema.Int,
  handler: () => Effect.sync(() => process.pid)
})

export const Counter = Actor.make("Counter", [
  Rpc.make("Add", { payload: { by: Schema.Int }, success: Schema.Int }),
  Rpc.make("Get", { success: Schema.Int })
])

export const CounterBehaviour = Actor.behaviour(
  Counter,
  Effect.gen(function* () {
    const count = yield* Ref.make(0)
    return {
      Add: ({ payload }) => Ref.updateAndGet(count, (n) => n + payload.by),
      Get: () => Ref.get(count)
    }
  })
)

export const Counters = KeyedRefs.Tag(Counter)

const check = (what: string, actual: unknown, expected: unknown) =>
  JSON.stringify(actual) === JSON.stringify(expected)
    ? Console.log(`${what}: ${JSON.stringify(actual)}`)
    : Effect.die(new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`))

if (import.meta.main) {
  const main = Effect.gen(function* () {
    const childPid = yield* Process.run(WhereAmI, undefined)
    yield* check("process ran in a child", childPid !== process.pid, true)

    for (const backend of ["process", "thread"] as const) {
      const squares = yield* Pool.map(Square, [1, 2, 3, 4, 5]).pipe(
        Effect.provide(NodePool.layer({ size: 2, backend }))
      )
      yield* check(`pool (${backend})`, squares, [1, 4, 9, 16, 25])
    }
    const cubes = yield* Pool.map(Cube, [1, 2, 3]).pipe(Effect.provide(NodePool.layer({ size: 2 })))
    yield* check("a task from another module of the app", cubes, [1, 8, 27])

    const supervisor = yield* Supervisor.start({ strategy: "oneForOne" }, [
      Supervisor.worker("counter", CounterBehaviour)
    ])
    const counter = supervisor.ref("counter", Counter)
    yield* counter.tell("Add", { by: 2 })
    yield* check("supervised actor", yield* counter.ask("Add", { by: 3 }), 5)

    const counters = yield* Keyed.make(CounterBehaviour, { hosts: 2 })
    yield* counters.get("a").ask("Add", { by: 1 })
    yield* counters.get("b").ask("Add", { by: 10 })
    yield* counters.get("a").ask("Add", { by: 1 })
    const keyed = [yield* counters.get("a").ask("Get", undefined), yield* counters.get("b").ask("Get", undefined)]
    yield* check("keyed actors", keyed, [2, 10])

    const viaRefs = yield* Effect.gen(function* () {
      const refs = yield* Counters
      yield* refs.get("c").ask("Add", { by: 4 })
      return yield* refs.get("c").ask("Get", undefined)
    }).pipe(Effect.provide(KeyedRefs.layerLocal(Counters, CounterBehaviour, { hosts: 1 })))
    yield* check("keyed refs (@troupe/cluster, one machine)", viaRefs, 4)

    yield* Console.log("consumer: ok")
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
