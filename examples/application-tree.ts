/**
 * A whole application as one supervision tree: a process pool (`images`), a
 * keyed group of actors (`carts`) and a dynamic supervisor of connections
 * (`connections`, Elixir's `DynamicSupervisor`: one template, a child per
 * host, each started with its own typed arguments, which the child reads
 * decoded with `Actor.startArgs`). The tree starts them left to
 * right, the program uses each, and one `stop` shuts the whole application
 * down in reverse start order, every process reaped.
 *
 *     node examples/application-tree.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Actor, Supervisor, Task } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Ref, Schema, Stream } from "effect"
import { Rpc } from "effect/rpc"

/** A task for the pool. */
export const Thumbnail = Task.make("Thumbnail", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (size) => Effect.succeed(size * size)
})

/** A shopping cart per user, in the keyed group. */
export const Cart = Actor.make("Cart", [Rpc.make("Add", { payload: { items: Schema.Int }, success: Schema.Int })])

export const CartBehaviour = Actor.behaviour(
  Cart,
  Effect.gen(function* () {
    const items = yield* Ref.make(0)
    return { Add: ({ payload }) => Ref.updateAndGet(items, (n) => n + payload.items) }
  })
)

/** A connection's start arguments: encoded by the supervisor, decoded by the connection's process. */
export const ConnectionArgs = Schema.Struct({ host: Schema.String, port: Schema.Int })

/** A connection to one host, in its own process; the host comes from its start arguments. */
export const Connection = Actor.make("Connection", [
  Rpc.make("Ping", { success: Schema.Struct({ host: Schema.String, pid: Schema.Int }) })
])

export const ConnectionBehaviour = Actor.behaviour(
  Connection,
  Effect.gen(function* () {
    const args = yield* Actor.startArgs(ConnectionArgs)
    const host = `${args.host}:${args.port}`
    // A real connection would connect here, then say so: its supervisor resets its backoff.
    yield* Actor.healthy
    return { Ping: () => Effect.succeed({ host, pid: process.pid }) }
  })
)

/** Each connection is started with its own `ConnectionArgs` (a restart gets the same). */
const connection = Supervisor.template(ConnectionBehaviour, { args: ConnectionArgs, restart: "transient" })

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

if (import.meta.main) {
  const main = Effect.gen(function* () {
    const sup = yield* Supervisor.start({ name: "shop", strategy: "oneForOne", intensity: 3, period: "1 minute" }, [
      Supervisor.pool("images", { size: 2, tasks: [Thumbnail] }),
      Supervisor.keyed("carts", CartBehaviour, { hosts: 2, idleTimeout: "1 minute" }),
      Supervisor.dynamic("connections", { maxChildren: 10 }, connection)
    ])
    const stopped: Array<string> = []
    yield* Effect.forkChild(
      Stream.runForEach(sup.events, (event) =>
        Effect.sync(() => {
          if (event._tag === "ChildStopped" && !event.path.includes("/")) stopped.push(event.path)
        })
      ),
      { startImmediately: true }
    )
    const children = yield* sup.whichChildren
    yield* Console.log(`started: ${children.map((child) => `${child.id} (${child.kind})`).join(", ")}`)

    const images = yield* sup.poolAt("images")
    yield* Console.log(`images: thumbnails ${JSON.stringify(yield* images.map(Thumbnail, [1, 2, 3, 4]))}`)

    const carts = yield* sup.keyedAt("carts", Cart)
    yield* carts.get("alice").ask("Add", { items: 2 })
    const alice = yield* carts.get("alice").ask("Add", { items: 1 })
    const bob = yield* carts.get("bob").ask("Add", { items: 1 })
    yield* Console.log(`carts: alice has ${alice} items, bob has ${bob}`)

    const connections = sup.dynamicAt("connections", connection)
    const pings = []
    for (const [host, port] of [
      ["db.internal", 5432],
      ["cache.internal", 6379]
    ] as const) {
      const id = yield* connections.startChild({ host, port })
      pings.push(yield* sup.ref(`connections/${id}`, Connection).ask("Ping", undefined))
    }
    yield* Console.log(`connections: ${pings.map((ping) => `${ping.host} (pid ${ping.pid})`).join(", ")}`)

    const pids = [
      ...(yield* images.stats).workers.flatMap((worker) => (worker.pid === null ? [] : [worker.pid])),
      ...(yield* carts.pids).flatMap((pid) => (pid === null ? [] : [pid])),
      ...pings.map((ping) => ping.pid)
    ]
    yield* sup.stop
    // The last event may still be on its way to the listener.
    while (stopped.length < children.length) yield* Effect.sleep("10 millis")
    yield* Console.log(`stop_order=${stopped.join(",")} processes=${pids.length} all_reaped=${!pids.some(isAlive)}`)
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeProcess.layer)))
}
