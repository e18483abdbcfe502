/**
 * @troupe/core: typed tasks, child processes, and the errors that cross the
 * process boundary. Platform-neutral: it depends on `effect` only.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Actor from "./Actor.ts"
/** @since 0.1.0 */
export * as ActorDirectory from "./ActorDirectory.ts"
/** @since 0.1.0 */
export * as Balancer from "./Balancer.ts"
/** @since 0.1.0 */
export * as Channel from "./Channel.ts"
/** @since 0.1.0 */
export * as ChildRunner from "./ChildRunner.ts"
/** @since 0.1.0 */
export * as ExitStatus from "./ExitStatus.ts"
/** @since 0.1.0 */
export * as IpcBarrier from "./IpcBarrier.ts"
/** @since 0.1.0 */
export * as IpcEvent from "./IpcEvent.ts"
/** @since 0.1.0 */
export * as IpcLock from "./IpcLock.ts"
/** @since 0.1.0 */
export * as IpcPipe from "./IpcPipe.ts"
/** @since 0.1.0 */
export * as IpcQueue from "./IpcQueue.ts"
/** @since 0.1.0 */
export * as IpcSemaphore from "./IpcSemaphore.ts"
/** @since 0.1.0 */
export * as Keyed from "./Keyed.ts"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.ts"
/** @since 0.1.0 */
export * as Pool from "./Pool.ts"
/** @since 0.1.0 */
export * as PoolHandle from "./PoolHandle.ts"
/** @since 0.1.0 */
export * as Process from "./Process.ts"
/** @since 0.1.0 */
export * as Progress from "./Progress.ts"
/** @since 0.1.0 */
export * as RestartPolicy from "./RestartPolicy.ts"
/** @since 0.1.0 */
export * as Session from "./Session.ts"
/** @since 0.1.0 */
export * as SharedMap from "./SharedMap.ts"
/** @since 0.1.0 */
export * as SharedMemory from "./SharedMemory.ts"
/** @since 0.1.0 */
export * as SharedRef from "./SharedRef.ts"
/** @since 0.1.0 */
export * as Supervisor from "./Supervisor.ts"
/** @since 0.1.0 */
export * as Task from "./Task.ts"
/** @since 0.1.0 */
export * as TestTransport from "./TestTransport.ts"
/** @since 0.1.0 */
export * as Transport from "./Transport.ts"
/** @since 0.1.0 */
export * as TroupeError from "./TroupeError.ts"
