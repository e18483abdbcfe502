/**
 * What one pool counts and tells: the figures behind its metrics and
 * `stats`, and its stream of lifecycle events.
 *
 * The data path calls in synchronously (a submission, a dispatch, an outcome)
 * and only bumps numbers; the metric series read them when asked.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type { ExitStatus } from "../../ExitStatus.ts"
import * as Metrics from "../../Metrics.ts"
import type * as Pool from "../../Pool.ts"
import { counterState, gaugeState, Histogram, register, Tally, unregister } from "../telemetry.ts"
import * as TimeSource from "../timeSource.ts"

export interface WorkerView {
  readonly slot: number
  readonly held: { readonly size: number }
  readonly rss: number | undefined
}

const errorTag = (exit: Exit.Exit<unknown, unknown>): string => {
  if (exit._tag === "Success") return "Success"
  const reason = exit.cause.reasons[0]
  if (reason === undefined) return "Unknown"
  if (reason._tag === "Interrupt") return "Interrupted"
  if (reason._tag === "Die") return "Defect"
  const error = reason.error
  return typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : "Unknown"
}

/** How a worker exited, as a metric label. */
export const exitLabel = (status: ExitStatus): string =>
  status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`

export class PoolTelemetry {
  readonly name: string
  readonly context: Context.Context<never>
  /** The pool's time: the `Clock` of the context the pool was made in. */
  readonly clock: TimeSource.TimeSource
  readonly events: PubSub.PubSub<Pool.Event>
  submitted = 0
  started = 0
  succeeded = 0
  retried = 0
  workerStarts = 0
  restarts = 0
  /** Until when (monotonic ms) the pool is degraded: restarts went past the intensity within the last period. */
  private degradedUntil = 0
  readonly failed: Tally
  readonly workerExits: Tally
  readonly runMs = new Histogram(Metrics.millisecondBoundaries)
  readonly waitMs = new Histogram(Metrics.millisecondBoundaries)
  readonly backoffMs = new Histogram(Metrics.millisecondBoundaries)
  private readonly registrations: Array<Metric.Registration> = []

  constructor(name: string, context: Context.Context<never>, queueDepth: () => number) {
    this.name = name
    this.context = context
    this.clock = TimeSource.make(context)
    this.events = Effect.runSync(PubSub.unbounded<Pool.Event>())
    const pool = { pool: name }
    const registrations = this.registrations
    this.failed = new Tally(Metrics.tasksFailed, pool, "error", context, registrations)
    this.workerExits = new Tally(Metrics.workerExits, pool, "exit", context, registrations)
    register(Metrics.tasksSubmitted, pool, context, () => counterState(this.submitted), registrations)
    register(Metrics.tasksStarted, pool, context, () => counterState(this.started), registrations)
    register(Metrics.tasksSucceeded, pool, context, () => counterState(this.succeeded), registrations)
    register(Metrics.tasksRetried, pool, context, () => counterState(this.retried), registrations)
    register(Metrics.workerStarts, pool, context, () => counterState(this.workerStarts), registrations)
    register(Metrics.workerRestarts, pool, context, () => counterState(this.restarts), registrations)
    register(Metrics.queueDepth, pool, context, () => gaugeState(queueDepth()), registrations)
    register(Metrics.taskRunMs, pool, context, () => this.runMs.state(), registrations)
    register(Metrics.taskWaitMs, pool, context, () => this.waitMs.state(), registrations)
    register(Metrics.backoffMs, pool, context, () => this.backoffMs.state(), registrations)
    register(Metrics.poolDegraded, pool, context, () => gaugeState(this.degraded() ? 1 : 0), registrations)
  }

  /** A restart went past the intensity (`onExceeded: "degrade"`): the pool is degraded for `periodMs` from now. */
  degrade(periodMs: number): void {
    this.degradedUntil = this.clock.monotonicMillis() + periodMs
  }

  /** Restarts went past the intensity within the last period (`onExceeded: "degrade"`). */
  degraded(): boolean {
    return this.clock.monotonicMillis() < this.degradedUntil
  }

  /** Registers the per-worker series of one slot. */
  addWorker(worker: WorkerView): void {
    const tags = { pool: this.name, worker: String(worker.slot) }
    register(Metrics.workerInFlight, tags, this.context, () => gaugeState(worker.held.size), this.registrations)
    register(Metrics.workerRssBytes, tags, this.context, () => gaugeState(worker.rss ?? 0), this.registrations)
  }

  /** An item's failure reached its caller (a success only bumps `succeeded`). */
  failedWith(exit: Exit.Exit<unknown, unknown>): void {
    this.failed.add(errorTag(exit))
  }

  publish(event: Pool.Event): void {
    PubSub.publishUnsafe(this.events, event)
  }

  /** The pool closed: its series leave the registry. */
  close(): void {
    unregister(this.registrations)
  }
}
