/**
 * When this runner acquired each of its shards, so that a runner can refuse
 * a volatile message the engine delivers again after its first owner died.
 *
 * `effect/cluster` sends a volatile message (not persisted) again, every
 * `sendRetryInterval`, to the owner of its shard until one answers: when the
 * runner that had it dies (SIGKILL), the message goes to the shard's next
 * owner once the failover is done, and that runner would run it a second
 * time. The message's id is a snowflake that carries its creation time (the
 * caller's clock): a message made before this runner acquired its shard may
 * have reached the shard's previous owner, and is refused (the cluster pool
 * fails it with `WorkerCrashed`, an actor with `ActorDied`), so that a
 * message without retries runs at most once.
 *
 * @internal
 */
import * as ShardId from "effect/cluster/ShardId"
import * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as Snowflake from "effect/cluster/Snowflake"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

export interface ShardClock {
  /** Whether the message `requestId`, for an entity of `shard`, may have reached another owner of the shard. */
  readonly predates: (shard: ShardId.ShardId, requestId: Snowflake.Snowflake) => boolean
}

/**
 * Notes, every 50 ms, the shards of every shard group this runner owns: a
 * shard's acquisition is the last time it was seen not owned.
 */
export const make: Effect.Effect<ShardClock, never, Sharding.Sharding | ShardingConfig.ShardingConfig | Scope.Scope> =
  Effect.gen(function* () {
    const sharding = yield* Sharding.Sharding
    const config = yield* ShardingConfig.ShardingConfig
    const shards = config.availableShardGroups.flatMap((group) =>
      Array.from({ length: config.shardsPerGroup }, (_, index) => ShardId.make(group, index + 1))
    )
    const since = new Map<string, number>()
    const keyOf = (shard: ShardId.ShardId) => `${shard.group}:${shard.id}`
    // The last look: every shard missing from `since` was not owned then.
    let lastLook = Date.now()
    const ownedSince = (shard: ShardId.ShardId): number | undefined => {
      const key = keyOf(shard)
      if (!sharding.hasShardId(shard)) {
        since.delete(key)
        return undefined
      }
      let owned = since.get(key)
      if (owned === undefined) {
        owned = lastLook
        since.set(key, owned)
      }
      return owned
    }
    const look = Effect.sync(() => {
      const now = Date.now()
      for (const shard of shards) ownedSince(shard)
      lastLook = now
    })
    yield* look.pipe(Effect.repeat(Schedule.spaced(Duration.millis(50))), Effect.forkScoped)
    return {
      predates: (shard, requestId) => {
        const owned = ownedSince(shard)
        return owned === undefined || Snowflake.timestamp(requestId) < owned
      }
    }
  })
