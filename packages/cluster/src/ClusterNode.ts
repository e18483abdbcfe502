/**
 * The cluster layers of a node: `effect/cluster` over sockets
 * (`NodeClusterSocket`), with runners, shard locks and persisted messages in
 * PostgreSQL (`@effect/sql-pg`). `layerRunner` is a node that hosts shards,
 * `layerClient` one that only sends messages. Both also provide the
 * `SqlClient`, which `ClusterRunner` uses for `Actor.persistedRef` state,
 * and the node's `ShardingConfig`, which `ClusterPool` reads its shards from.
 *
 * `failover` holds the shard-lock and health-check settings Troupe uses by
 * default, chosen so that the entities of a runner killed with SIGKILL answer
 * on another runner within seconds instead of the engine's default of about
 * half a minute (see docs/cluster.md for the figures and the split-brain risk
 * of short locks).
 *
 * Every node takes messages of up to 64 MiB from the others (the socket
 * serialization's frame limit, the same on runners and clients); callers
 * refuse a payload over 16 MiB of JSON with `PayloadTooLarge`.
 *
 * @since 0.1.0
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { InvalidOption } from "@troupe/core/TroupeError"
import type * as Config from "effect/Config"
import type * as MessageStorage from "effect/cluster/MessageStorage"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import type * as Runners from "effect/cluster/Runners"
import type * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as SocketServer from "effect/socket/SocketServer"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as Check from "./internal/options.ts"
import { maxFrameBytes } from "./internal/payload.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The PostgreSQL URL shared by every node of the cluster (`postgres://127.0.0.1:5432/bank`). */
  readonly database: string
  /** Overrides of the engine's settings, on top of `failover` (and of the `HOST`, `PORT`... environment). */
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions extends Options {
  /** The address other nodes reach this runner at (default `localhost`). */
  readonly host?: string | undefined
  /** The runner's port (default 34431). */
  readonly port?: number | undefined
}

/**
 * Troupe's default shard-lock and health-check settings: a dead runner is
 * found by a ping every second (5 retries 500 ms apart), shard assignments
 * are read every second, and a new owner looks for stored messages every
 * second. A runner that stops refreshing its heartbeat and its shard locks
 * (every 2 s) is dropped, and its lock session ended by PostgreSQL, after
 * 6 s: the bound on failover when the dead runner was the one running the
 * health checks.
 *
 * @since 0.1.0
 * @category defaults
 */
export const failover: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  runnerHealthCheckInterval: Duration.seconds(1),
  refreshAssignmentsInterval: Duration.seconds(1),
  entityMessagePollInterval: Duration.seconds(1),
  shardLockExpiration: Duration.seconds(6),
  shardLockRefreshInterval: Duration.seconds(2)
}

/** What both kinds of node check: the options object, the database URL, the shard count. */
const invalidOptions = (options: Options): InvalidOption | undefined =>
  typeof options !== "object" || options === null || Array.isArray(options)
    ? Check.refuse("options", "must be an object with a database URL", options)
    : Check.firstInvalid(
        Check.nonEmptyString("database", options.database),
        Check.optionsObject("shardingConfig", options.shardingConfig),
        Check.positiveInteger("shardingConfig.shardsPerGroup", options.shardingConfig?.shardsPerGroup)
      )

/**
 * The `SqlClient` of a cluster's database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (database: string): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError.SqlError> =>
  PgClient.layer({ url: Redacted.make(database) })

/**
 * A node that hosts shards: add `ClusterRunner.layer` on top of it.
 *
 * @example
 * ```ts
 * import { ClusterNode } from "@troupe/cluster"
 *
 * const Node = ClusterNode.layerRunner({ database: "postgres://127.0.0.1:5432/bank", host: "10.0.0.5", port: 34431 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRunner = (
  options: RunnerOptions
): Layer.Layer<
  | Sharding.Sharding
  | Runners.Runners
  | MessageStorage.MessageStorage
  | SqlClient.SqlClient
  | ShardingConfig.ShardingConfig,
  SocketServer.SocketServerError | Config.ConfigError | SqlError.SqlError | InvalidOption
> => {
  const invalid =
    invalidOptions(options) ??
    Check.firstInvalid(Check.optionalNonEmptyString("host", options.host), Check.port("port", options.port))
  if (invalid !== undefined) return Layer.effectDiscard(Effect.fail(invalid)) as never
  const shardingConfig = {
    ...failover,
    runnerAddress: Option.some(RunnerAddress.make(options.host ?? "localhost", options.port ?? 34431)),
    ...options.shardingConfig
  }
  return NodeClusterSocket.layer({ storage: "sql", shardingConfig, serializationMaxBufferSize: maxFrameBytes }).pipe(
    Layer.provideMerge(layerSql(options.database)),
    Layer.merge(ShardingConfig.layerFromEnv(shardingConfig))
  )
}

/**
 * A node that only sends messages (an API server, a script): no shards.
 *
 * @example
 * ```ts
 * import { ClusterNode } from "@troupe/cluster"
 *
 * const Client = ClusterNode.layerClient({ database: "postgres://127.0.0.1:5432/bank" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: Options
): Layer.Layer<
  | Sharding.Sharding
  | Runners.Runners
  | MessageStorage.MessageStorage
  | SqlClient.SqlClient
  | ShardingConfig.ShardingConfig,
  Config.ConfigError | SqlError.SqlError | InvalidOption
> => {
  const invalid = invalidOptions(options)
  if (invalid !== undefined) return Layer.effectDiscard(Effect.fail(invalid)) as never
  const shardingConfig = { ...failover, ...options.shardingConfig }
  return NodeClusterSocket.layer({
    clientOnly: true,
    storage: "sql",
    shardingConfig,
    serializationMaxBufferSize: maxFrameBytes
  }).pipe(Layer.provideMerge(layerSql(options.database)), Layer.merge(ShardingConfig.layerFromEnv(shardingConfig)))
}
