/**
 * The metrics Troupe reports, as Effect `Metric`s.
 *
 * Pools, supervisors and keyed groups register their series in the
 * `Metric.MetricRegistry` of the context they were created in, tagged with
 * their name (`pool`, `supervisor`) and, where it helps, the worker or the
 * actor. The series are read when an exporter or `Metric.snapshot` reads
 * them: the hot path only bumps plain numbers, so metrics cost nothing per
 * task beyond that. Read one with `Metric.value` on the metric tagged the
 * same way, or list them all with `Metric.snapshot`.
 *
 * A new pool (or supervisor) with the same name replaces the series of the
 * previous one; give concurrent pools distinct names. A pool's (or tree's)
 * series leave the registry when it shuts down.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

const incremental = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * Boundaries of the time histograms, in milliseconds: 0.05 ms to about 26 s,
 * doubling.
 *
 * @since 0.1.0
 * @category boundaries
 */
export const millisecondBoundaries: ReadonlyArray<number> = Metric.exponentialBoundaries({
  start: 0.05,
  factor: 2,
  count: 20
})

/**
 * Tasks submitted to the pool. Tags: `pool`.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "@troupe/core"
 *
 * const submitted = Metric.value(Metric.withAttributes(Metrics.tasksSubmitted, { pool: "images" }))
 * ```
 *
 * @since 0.1.0
 * @category pool
 */
export const tasksSubmitted = incremental("troupe_pool_tasks_submitted", "Tasks submitted to the pool")

/**
 * Task runs handed to a worker (a retried task counts once per run). Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const tasksStarted = incremental("troupe_pool_tasks_started", "Task runs handed to a worker")

/**
 * Tasks that succeeded. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const tasksSucceeded = incremental("troupe_pool_tasks_succeeded", "Tasks that succeeded")

/**
 * Tasks that failed, by the `_tag` of their error (the task's own error, or
 * `WorkerCrashed`, `TaskTimeout`, ...). Tags: `pool`, `error`.
 *
 * @since 0.1.0
 * @category pool
 */
export const tasksFailed = incremental("troupe_pool_tasks_failed", "Tasks that failed, by error tag")

/**
 * Task runs started again after their worker died. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const tasksRetried = incremental("troupe_pool_tasks_retried", "Task runs retried after a worker crash")

/**
 * Jobs waiting in the pool's queue. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const queueDepth = Metric.gauge("troupe_pool_queue_depth", { description: "Jobs waiting in the pool's queue" })

/**
 * Tasks a worker holds (running or prefetched). Tags: `pool`, `worker` (the slot index).
 *
 * @since 0.1.0
 * @category pool
 */
export const workerInFlight = Metric.gauge("troupe_pool_worker_in_flight", {
  description: "Tasks a worker holds, running or prefetched"
})

/**
 * A worker's resident memory in bytes, as last reported (about once a second while it works). Tags: `pool`, `worker`.
 *
 * @since 0.1.0
 * @category pool
 */
export const workerRssBytes = Metric.gauge("troupe_pool_worker_rss_bytes", {
  description: "A worker's resident set size, in bytes"
})

/**
 * From a task's dispatch to a worker to its reply, in milliseconds. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const taskRunMs = Metric.histogram("troupe_pool_task_run_ms", {
  description: "Dispatch to reply, in milliseconds",
  boundaries: millisecondBoundaries
})

/**
 * From a task's submission to its dispatch to a worker, in milliseconds. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const taskWaitMs = Metric.histogram("troupe_pool_task_wait_ms", {
  description: "Submission to dispatch, in milliseconds",
  boundaries: millisecondBoundaries
})

/**
 * Workers started. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const workerStarts = incremental("troupe_pool_worker_starts", "Workers started")

/**
 * Workers that exited, by how: `code <n>` or `signal <NAME>`. Tags: `pool`, `exit`.
 *
 * @since 0.1.0
 * @category pool
 */
export const workerExits = incremental("troupe_pool_worker_exits", "Workers that exited, by exit code or signal")

/**
 * Workers restarted after a crash or a failed start. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const workerRestarts = incremental("troupe_pool_worker_restarts", "Workers restarted after a crash")

/**
 * Backoff delays before restarts, in milliseconds. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const backoffMs = Metric.histogram("troupe_pool_backoff_ms", {
  description: "Backoff before a worker restart, in milliseconds",
  boundaries: millisecondBoundaries
})

/**
 * 1 while a pool's restarts are past its restart intensity and it goes on
 * degraded (`onExceeded: "degrade"`, the default), else 0. Tags: `pool`.
 *
 * @since 0.1.0
 * @category pool
 */
export const poolDegraded = Metric.gauge("troupe_pool_degraded", {
  description: "1 while the pool's worker restarts are past its restart intensity"
})

/**
 * Children restarted by a supervision tree. Tags: `supervisor`.
 *
 * @since 0.1.0
 * @category supervision
 */
export const supervisorRestarts = incremental("troupe_supervisor_restarts", "Children restarted by a supervisor")

/**
 * Supervisors (the root or a nested one) that gave up and escalated. Tags: `supervisor`.
 *
 * @since 0.1.0
 * @category supervision
 */
export const supervisorEscalations = incremental(
  "troupe_supervisor_escalations",
  "Supervisors that exceeded their restart intensity and escalated"
)

/**
 * Messages waiting or being handled in an actor's mailbox. Tags: `supervisor`,
 * `actor`, `key` for a supervised worker; `supervisor` (the group's name) and
 * `actor`, summed over keys, for a keyed group.
 *
 * @since 0.1.0
 * @category actors
 */
export const mailboxDepth = Metric.gauge("troupe_actor_mailbox_depth", {
  description: "Messages waiting or being handled in an actor's mailbox"
})
