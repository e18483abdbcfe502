/**
 * @troupe/cluster: Troupe's keyed actors on `effect/cluster`, across
 * machines, with PostgreSQL for shard locks, persisted messages and actor
 * state, and every instance hosted in a supervised child process of its
 * runner.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ClusterClient from "./ClusterClient.ts"
/** @since 0.1.0 */
export * as ClusterNode from "./ClusterNode.ts"
/** @since 0.1.0 */
export * as ClusterPool from "./ClusterPool.ts"
/** @since 0.1.0 */
export * as ClusterRunner from "./ClusterRunner.ts"
/** @since 0.1.0 */
export * as KeyedRefs from "./KeyedRefs.ts"
