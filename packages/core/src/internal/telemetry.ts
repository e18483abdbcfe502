/**
 * The parent's side of observability, shared by pools, processes and actor
 * hosts: histograms kept as plain numbers, pull-based metric series, the
 * replay of a child's spans under the caller's span, and the child's log
 * lines sent to the parent's logger.
 *
 * Metric series are registered with `Metric.registerUnsafe`: an exporter (or
 * `Metric.value`) reads the current figure when it asks, and the hot path
 * only bumps a number.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Severity } from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type { LogRecord, SpanRecord, TraceContext } from "./wire/frame.ts"

/** A histogram over fixed boundaries, in the shape of Effect's `HistogramState` (cumulative buckets). */
export class Histogram {
  private readonly boundaries: ReadonlyArray<number>
  private readonly counts: Uint32Array
  count = 0
  sum = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE

  constructor(boundaries: ReadonlyArray<number>) {
    this.boundaries = [...boundaries].sort((a, b) => a - b)
    this.counts = new Uint32Array(this.boundaries.length + 1)
  }

  update(value: number): void {
    let low = 0
    let high = this.boundaries.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (value <= this.boundaries[mid]!) high = mid
      else low = mid + 1
    }
    this.counts[low]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  state(): Metric.HistogramState {
    let cumulated = 0
    const buckets: Array<[number, number]> = this.boundaries.map((boundary, index) => {
      cumulated += this.counts[index]!
      return [boundary, cumulated]
    })
    return { buckets, count: this.count, sum: this.sum, min: this.min, max: this.max }
  }
}

/** Estimates quantile `q` (0 to 1) of a histogram state from its buckets (the upper bound of the bucket). */
export const quantile = (state: Metric.HistogramState, q: number): number | undefined => {
  if (state.count === 0) return undefined
  const rank = q * state.count
  for (const [boundary, cumulated] of state.buckets) if (cumulated >= rank) return Math.min(boundary, state.max)
  return state.max
}

const ignore = () => {}

/** Registers a pull-based series of `metric` tagged with `attributes`, read through `get`. */
export const register = <State>(
  metric: Metric.Metric<any, State>,
  attributes: Record<string, string>,
  context: Context.Context<never>,
  get: () => State,
  registrations?: Array<Metric.Registration>
): Metric.Registration => {
  const registration = Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, {
    get,
    update: ignore,
    modify: ignore
  })
  registrations?.push(registration)
  return registration
}

/** Removes the series of something that stopped (a pool, a tree), so the registry does not keep it. */
export const unregister = (registrations: Array<Metric.Registration>): void => {
  for (const registration of registrations.splice(0)) registration.remove()
}

export const counterState = (count: number): Metric.CounterState<number> => ({ count, incremental: true })
export const gaugeState = (value: number): Metric.GaugeState<number> => ({ value })

/** A tally per label (an error tag, an exit code), each label its own series, registered when first seen. */
export class Tally {
  private readonly counts = new Map<string, number>()
  private readonly metric: Metric.Metric<any, Metric.CounterState<number>>
  private readonly attributes: Record<string, string>
  private readonly label: string
  private readonly context: Context.Context<never>
  private readonly registrations: Array<Metric.Registration>

  constructor(
    metric: Metric.Metric<any, Metric.CounterState<number>>,
    attributes: Record<string, string>,
    label: string,
    context: Context.Context<never>,
    registrations: Array<Metric.Registration>
  ) {
    this.metric = metric
    this.attributes = attributes
    this.label = label
    this.context = context
    this.registrations = registrations
  }

  add(value: string): void {
    const count = this.counts.get(value)
    if (count === undefined) {
      this.counts.set(value, 1)
      register(
        this.metric,
        { ...this.attributes, [this.label]: value },
        this.context,
        () => counterState(this.counts.get(value) ?? 0),
        this.registrations
      )
    } else this.counts.set(value, count + 1)
  }

  get total(): number {
    let sum = 0
    for (const count of this.counts.values()) sum += count
    return sum
  }

  toRecord(): Record<string, number> {
    return Object.fromEntries(this.counts)
  }
}

/** The caller's span and tracer, captured when a traced call is submitted. */
export interface Trace {
  readonly context: TraceContext
  readonly parent: Tracer.AnySpan
  readonly tracer: Tracer.Tracer
}

/** The current span of the fiber whose context this is, as a `Trace`; `undefined` when it runs in none. */
export const traceOf = (context: Context.Context<never>): Trace | undefined => {
  const parent = Context.getOrUndefined(context, Tracer.ParentSpan)
  if (parent === undefined) return undefined
  return {
    context: { traceId: parent.traceId, spanId: parent.spanId, sampled: parent.sampled },
    parent,
    tracer: Context.get(context, Tracer.Tracer)
  }
}

const nanos = (millis: number): bigint => BigInt(Math.round(millis * 1_000_000))

/**
 * Replays the spans a child recorded under the caller's span, in the
 * caller's tracer: each child span keeps its name, times and attributes, and
 * its place in the tree; `attributes` are added to the run's own span.
 */
export const replaySpans = (
  trace: Trace,
  records: ReadonlyArray<SpanRecord>,
  attributes: Record<string, unknown>
): void => {
  const byId = new Map(records.map((record) => [record.spanId, record]))
  const created = new Map<string, Tracer.Span>()
  const create = (record: SpanRecord): Tracer.Span => {
    const known = created.get(record.spanId)
    if (known !== undefined) return known
    const parentRecord = record.parentSpanId === undefined ? undefined : byId.get(record.parentSpanId)
    const parent: Tracer.AnySpan = parentRecord === undefined ? trace.parent : create(parentRecord)
    const span = trace.tracer.span({
      name: record.name,
      parent: Option.some(parent),
      annotations: Context.empty(),
      links: [],
      startTime: nanos(record.startMs),
      kind: "internal",
      root: false,
      sampled: trace.context.sampled
    })
    for (const [key, value] of Object.entries(record.attributes)) span.attribute(key, value)
    if (parentRecord === undefined) for (const [key, value] of Object.entries(attributes)) span.attribute(key, value)
    span.end(nanos(record.endMs), record.ok ? Exit.void : Exit.fail("failed in the child"))
    created.set(record.spanId, span)
    return span
  }
  for (const record of records) create(record)
}

/** Logs a child's lines with the parent's logger (from `context`), annotated with where they came from. */
export const emitLogs = (
  context: Context.Context<never>,
  entries: ReadonlyArray<LogRecord>,
  annotations: Record<string, unknown>
): void => {
  for (const entry of entries) {
    Effect.runForkWith(context)(
      Effect.logWithLevel(entry.level as Severity)(entry.message).pipe(
        Effect.annotateLogs({ ...entry.annotations, ...annotations })
      )
    )
  }
}
