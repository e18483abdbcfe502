/**
 * A cluster runner that hosts Troupe actors in supervised child processes.
 *
 * `effect/cluster` runs an entity's handler inside the runner's own process,
 * so one actor's out-of-memory or native crash takes the runner, and every
 * shard on it, down. A Troupe runner registers each actor type as an entity
 * whose handlers forward to a `Keyed` group of child processes on this
 * runner: the instances live in those children, supervised `oneForOne`, and
 * a crashing instance costs its host process, restarted in place, while the
 * runner keeps its shards.
 *
 * The entity's lifetime on this runner is the instance's: when the cluster
 * activates a key here, its `Actor.persistedRef` snapshot is read from
 * PostgreSQL and handed to the group; after each message that changed it,
 * the snapshot is written back before the reply leaves the runner; when the
 * key leaves (passivation, its shard moving away), its instance is stopped.
 *
 * @since 0.1.0
 */
import type * as Actor from "@troupe/core/Actor"
import * as Keyed from "@troupe/core/Keyed"
import type { Transport } from "@troupe/core/Transport"
import type { ChildStartFailed, InvalidSupervisorSpec } from "@troupe/core/TroupeError"
import * as Entity from "effect/cluster/Entity"
import type * as Sharding from "effect/cluster/Sharding"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import { entityOf } from "./internal/clusterEntity.ts"
import * as SnapshotStore from "./internal/snapshotStore.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Each actor type's `Keyed` group on this runner: its host processes,
   * mailbox, supervision (default: 2 hosts, as `Keyed.make`).
   */
  readonly keyed?: Keyed.Options | undefined
  /** Stop an instance after this long without messages (the entity's `maxIdleTime`, default 60 seconds). */
  readonly maxIdleTime?: Duration.Input | undefined
  /** The table that holds `Actor.persistedRef` snapshots (default `troupe_actor_snapshots`). */
  readonly snapshotTable?: string | undefined
}

type AnyHandler = (request: { readonly payload: unknown }) => Effect.Effect<unknown, unknown>

const serve = <A extends Actor.Any>(
  behaviour: Actor.Behaviour<A>,
  store: SnapshotStore.SnapshotStore,
  options: Options
) =>
  Effect.gen(function* () {
    const actor = behaviour.actor.name
    const keyed = yield* Keyed.make(behaviour, options.keyed)
    const build = Effect.gen(function* () {
      const key = (yield* Entity.CurrentAddress).entityId
      const stored = yield* Effect.orDie(store.load(actor, key))
      yield* keyed.handOver(key, stored)
      yield* Effect.addFinalizer(() => keyed.handOver(key, undefined))
      let saved = JSON.stringify(stored)
      // Before the reply leaves: an acknowledged message's effect on the state is in the database.
      const persist = Effect.suspend(() => {
        const snapshot = keyed.snapshotOf(key)
        const text = JSON.stringify(snapshot)
        if (snapshot === undefined || text === saved) return Effect.void
        return store.save(actor, key, snapshot).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              saved = text
            })
          ),
          Effect.orDie
        )
      })
      const ref = keyed.get(key)
      const handlers: Record<string, AnyHandler> = {}
      for (const tag of behaviour.actor.protocol.requests.keys()) {
        handlers[tag] = (request) => (ref.ask as AnyAsk)(tag, request.payload).pipe(Effect.onExit(() => persist))
      }
      return handlers
    })
    return entityOf(behaviour.actor).toLayer(build as never, {
      maxIdleTime: options.maxIdleTime,
      concurrency: 1
    }) as Layer.Layer<never, never, Sharding.Sharding>
  })

type AnyAsk = (tag: string, payload: unknown) => Effect.Effect<unknown, unknown>

/**
 * Serves actor types on this runner: one `Keyed` group of child processes per
 * type, registered with the cluster's `Sharding`. Needs `Sharding` and a
 * `SqlClient` (`ClusterNode.layerRunner`) and a `Transport`
 * (`NodeProcess.layer` or `NodeThread.layer`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { ClusterNode, ClusterRunner } from "@troupe/cluster"
 * import { NodeProcess } from "@troupe/node"
 * import { AccountBehaviour } from "./account.ts"
 *
 * const Runner = ClusterRunner.layer([AccountBehaviour], { keyed: { hosts: 2 } }).pipe(
 *   Layer.provide(ClusterNode.layerRunner({ database: "postgres://127.0.0.1:5432/bank", port: 34431 })),
 *   Layer.provide(NodeProcess.layer)
 * )
 * Layer.launch(Runner).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  behaviours: ReadonlyArray<Actor.Behaviour<any>>,
  options: Options = {}
): Layer.Layer<
  never,
  ChildStartFailed | InvalidSupervisorSpec | SqlError.SqlError,
  Sharding.Sharding | SqlClient.SqlClient | Transport
> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const store = yield* SnapshotStore.make(options.snapshotTable ?? "troupe_actor_snapshots")
      const layers = yield* Effect.forEach(behaviours, (behaviour) => serve(behaviour, store, options))
      return Layer.mergeAll(Layer.empty, ...layers)
    })
  )
