/**
 * A cluster runner that hosts Troupe actors in supervised child processes.
 *
 * `effect/cluster` runs an entity's handler inside the runner's own process,
 * so one actor's out-of-memory or native crash takes the runner, and every
 * shard on it, down. A Troupe runner registers each actor type as an entity
 * whose handlers forward to a `Keyed` group of child processes on this
 * runner: the instances live in those children, supervised `oneForOne`, and
 * a crashing instance costs its host process, restarted in place, while the
 * runner keeps its shards. If the group gives up (its hosts crashed past
 * their restart intensity), the runner can no longer serve the type's keys:
 * it leaves the cluster, shutting its sharding down, and the other runners
 * take its shards, each key starting there from its stored snapshot.
 *
 * The entity's lifetime on this runner is the instance's: when the cluster
 * activates a key here, its `Actor.persistedRef` snapshot is read from
 * PostgreSQL and handed to the group; after each message that changed it,
 * the snapshot is written back before the reply leaves the runner; when the
 * key leaves (passivation, its shard moving away), its instance is stopped.
 *
 * A persisted message changes the stored state exactly once: its request id,
 * which `effect/cluster` keeps on every redelivery, is written with the
 * snapshot, and a redelivered message that is already in the state gets the
 * reply it got the first time, without running again. Every activation takes
 * the next epoch of the key's row and writes only with it: a runner that lost
 * the key (paused or partitioned past its shard lock) cannot overwrite the
 * new owner's state; its write is refused, its instance stopped, and the
 * message left to the owner.
 *
 * A volatile message runs at most once: one made before this runner acquired
 * its key's shard, which the engine delivers again after the shard's
 * previous owner died, is refused with `ActorDied` (it may have run there).
 *
 * @since 0.1.0
 */
import type * as Actor from "@troupe/core/Actor"
import * as Keyed from "@troupe/core/Keyed"
import type { Transport } from "@troupe/core/Transport"
import type {
  ChildStartFailed,
  InvalidOption,
  InvalidSupervisorSpec,
  RestartIntensityExceeded,
  SupervisorFailed
} from "@troupe/core/TroupeError"
import { ActorDied } from "@troupe/core/TroupeError"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as ClusterSchema from "effect/cluster/ClusterSchema"
import * as Entity from "effect/cluster/Entity"
import * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import type * as Snowflake from "effect/cluster/Snowflake"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Rpc from "effect/rpc/Rpc"
import * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import { clusterActorOf, type WireMessage } from "./internal/clusterEntity.ts"
import * as Check from "./internal/options.ts"
import * as ShardClock from "./internal/shardClock.ts"
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

type AnyHandler = (request: {
  readonly requestId: bigint
  readonly payload: unknown
}) => Effect.Effect<unknown, unknown>

/**
 * How many of a key's last persisted messages are remembered as applied,
 * with their replies, to recognise a redelivery. A message is redelivered
 * only when its reply was not stored; with one message at a time per key,
 * that is one of the last few.
 */
const appliedWindow = 32

/**
 * A reply as stored with its message: as the runner sent it (the success or
 * the handler's typed error, as the host encoded them), or the `AskError` it
 * failed with. A message whose handler died or was interrupted after
 * changing the state is stored with `ActorDied` (`lost`), so that it is not
 * applied again either.
 */
const storedReply = (
  message: WireMessage,
  exit: Exit.Exit<SnapshotStore.EncodedReply, unknown>,
  lost: ActorDied
): SnapshotStore.EncodedReply => {
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.findErrorOption(exit.cause)
  const encoded = message.encodeError(error._tag === "Some" ? error.value : lost)
  if (Exit.isFailure(encoded)) throw new Error(`an AskError did not encode: ${encoded.cause}`)
  return { _tag: "Failure", error: encoded.value }
}

const serve = <A extends Actor.Any>(
  behaviour: Actor.Behaviour<A>,
  store: SnapshotStore.SnapshotStore,
  clock: ShardClock.ShardClock,
  options: Options
) =>
  Effect.gen(function* () {
    const actor = behaviour.actor.name
    const keyed = yield* Keyed.make(behaviour, options.keyed)
    const { entity, messages: wire } = clusterActorOf(behaviour.actor)
    const rpcs = entity.protocol.requests as ReadonlyMap<string, Rpc.AnyWithProps>
    const messages = [...rpcs].map(([tag, rpc]) => ({
      tag,
      persisted: Context.get(rpc.annotations, ClusterSchema.Persisted),
      message: wire.get(tag)!
    }))
    const build = Effect.gen(function* () {
      const address = yield* Entity.CurrentAddress
      const key = address.entityId
      // This activation's copy of the row, which only it writes while its epoch is the key's.
      let activation: SnapshotStore.Activation = { snapshot: undefined, epoch: 0, applied: [] }
      let saved = ""
      let applied = activation.applied
      let fenced = false
      // Set when a write failed: whether it reached the row is not known, so the next message reads the row again.
      let unsure = false
      // Takes the next epoch: from here on, an older activation of the key can no longer write its row.
      const load = Effect.gen(function* () {
        const row = yield* store.activate(actor, key)
        yield* keyed.handOver(key, row.snapshot)
        activation = row
        saved = JSON.stringify(row.snapshot)
        applied = row.applied
        unsure = false
      })
      yield* Effect.orDie(load)
      yield* Effect.addFinalizer(() => keyed.handOver(key, undefined))
      const refused = () =>
        new ActorDied({
          actor,
          key,
          reason: `a newer activation of the key owns its state (this one had epoch ${activation.epoch})`
        })
      // A volatile message made before this runner took the key's shard: the engine delivers it again after its
      // first owner died, and that runner may have run it. Not run twice.
      const resent = new ActorDied({
        actor,
        key,
        reason:
          "the runner it was sent to left the cluster before it replied (the message may have run there; it is not run twice)"
      })
      const lost = new ActorDied({
        actor,
        key,
        reason: "the message was applied, but its handler died or was interrupted before it replied"
      })
      // Before the reply leaves: an acknowledged message's effect on the state is in the database,
      // and a persisted message's id with it, in the same write.
      const persist = (
        message: WireMessage,
        requestId: string | undefined,
        exit: Exit.Exit<SnapshotStore.EncodedReply, unknown>,
        snapshot: unknown,
        text: string
      ) =>
        Effect.gen(function* () {
          const next =
            requestId === undefined
              ? applied
              : [...applied, { id: requestId, reply: storedReply(message, exit, lost) }].slice(-appliedWindow)
          yield* store.save(actor, key, activation.epoch, snapshot, next)
          saved = text
          applied = next
        })
      // Fenced: this instance's state is no longer the key's. It is stopped, and every message from now on
      // is refused; the cluster leaves them to the shard's owner.
      const fence = Effect.gen(function* () {
        fenced = true
        yield* Effect.logWarning(`${actor}(${key}): snapshot write refused (epoch ${activation.epoch} is stale)`)
        yield* keyed.handOver(key, undefined)
        return yield* Effect.fail(refused())
      })
      // The database failed: the message fails, and the instance, whose memory may be ahead of the row, stops; the
      // key's next message reads the row again. A defect would have the engine run the message again and again
      // until the database answered.
      const unavailable = (what: "read" | "stored") => (error: SqlError.SqlError) =>
        Effect.andThen(
          Effect.andThen(
            Effect.sync(() => {
              unsure = true
            }),
            keyed.handOver(key, undefined)
          ),
          Effect.fail(
            new ActorDied({
              actor,
              key,
              reason: `the key's state could not be ${what} (${error.message}); its next message starts its instance again from the stored state`
            })
          )
        )
      const handlers: Record<string, AnyHandler> = {}
      for (const { tag, persisted, message } of messages) {
        const handle = (request: Parameters<AnyHandler>[0]) =>
          Effect.suspend(() => {
            // The envelope's id, the same on every redelivery of a persisted message.
            const requestId = persisted ? String(request.requestId) : undefined
            const done = requestId === undefined ? undefined : applied.find((entry) => entry.id === requestId)
            // Its first reply again, as it was sent then.
            if (done !== undefined) return Effect.succeed(done.reply)
            // The payload and the reply go through as they are: the instance's host decodes and encodes them.
            return Effect.uninterruptibleMask((restore) =>
              Effect.flatMap(Effect.exit(restore(keyed.relay(key, tag, request.payload))), (exit) => {
                // Most messages leave the state as it was stored (or the actor keeps none): nothing to write.
                const snapshot = keyed.snapshotOf(key)
                if (snapshot === undefined) return exit
                const text = JSON.stringify(snapshot)
                if (text === saved) return exit
                return persist(message, requestId, exit, snapshot, text).pipe(
                  Effect.catchTag("StaleEpoch", () => fence),
                  Effect.catchTag("SqlError", unavailable("stored")),
                  Effect.andThen(exit)
                )
              })
            )
          })
        handlers[tag] = (request) =>
          Effect.suspend(() => {
            if (fenced) return Effect.fail(refused())
            if (!persisted && clock.predates(address.shardId, request.requestId as Snowflake.Snowflake)) {
              return Effect.fail(resent)
            }
            // After a failed write, the row is read again first.
            return unsure
              ? Effect.andThen(Effect.catchTag(load, "SqlError", unavailable("read")), handle(request))
              : handle(request)
          })
      }
      return handlers
    })
    // The entity is registered in a scope of its own, which the group's giving up closes.
    const registration = yield* Scope.fork(yield* Effect.scope)
    const sharding = yield* Sharding.Sharding
    yield* Scope.provide(
      sharding.registerEntity(entity, build as never, { maxIdleTime: options.maxIdleTime, concurrency: 1 }),
      registration
    ) as Effect.Effect<void>
    // Its hosts crashed past their restart intensity: this runner can no longer serve the actor's keys, and the
    // others can. Closing the registration shuts the runner's sharding down (the engine's `preemptiveShutdown`,
    // on by default): it leaves the cluster and releases its shards, whose keys start again on the other runners
    // from their stored snapshots.
    const { preemptiveShutdown } = yield* ShardingConfig.ShardingConfig
    const leave = (error: RestartIntensityExceeded | SupervisorFailed) =>
      Effect.andThen(
        Effect.logError(
          preemptiveShutdown
            ? `the ${actor} group gave up (${error.message}): this runner stops serving and hands its shards over`
            : `the ${actor} group gave up (${error.message}): its messages are refused on this runner, which keeps its shards (preemptiveShutdown is off); stop the runner`
        ),
        Scope.close(registration, Exit.fail(error))
      )
    yield* Effect.forkScoped(Effect.catch(keyed.join, leave))
  })

/**
 * Serves actor types on this runner: one `Keyed` group of child processes per
 * type, registered with the cluster's `Sharding`. Needs `Sharding`, its
 * `ShardingConfig` and a `SqlClient` (`ClusterNode.layerRunner`) and a `Transport`
 * (`NodeProcess.layer` or `NodeThread.layer`).
 *
 * When a type's group gives up (its hosts crashed past `keyed.intensity`
 * within `keyed.period`), the runner logs the error and stops serving: its
 * sharding shuts down (the engine's `preemptiveShutdown`, on by default) and
 * releases its shards, whose keys answer on the other runners from their
 * stored snapshots. The process stays up outside the cluster; restart it to
 * serve again.
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
  ChildStartFailed | InvalidSupervisorSpec | InvalidOption | SqlError.SqlError,
  Sharding.Sharding | ShardingConfig.ShardingConfig | SqlClient.SqlClient | Transport
> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const invalid =
        Check.optionsObject("options", options) ??
        Check.firstInvalid(
          Check.positiveDuration("maxIdleTime", options?.maxIdleTime),
          Check.optionalNonEmptyString("snapshotTable", options?.snapshotTable)
        )
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const store = yield* SnapshotStore.make(options.snapshotTable ?? "troupe_actor_snapshots")
      const clock = yield* ShardClock.make
      yield* Effect.forEach(behaviours, (behaviour) => serve(behaviour, store, clock, options), { discard: true })
    })
  )
