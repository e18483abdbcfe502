/**
 * What a child tells its parent about its work besides results: its log
 * lines and, when the caller ran inside a span, the spans of the work.
 *
 * A child has no exporter of its own. Its `Effect.log` lines go to a logger
 * that queues them for the parent (which logs them with its own logger,
 * annotated with the worker), and a traced run records its spans, the run's
 * own span first, to send back with the reply: the parent replays them under
 * the caller's span, in the parent's tracer.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import { bounded, textOf } from "../wire/codec.ts"
import type { LogRecord, SpanRecord, TraceContext } from "../wire/frame.ts"

/**
 * A logged value or a span attribute as text. Never throws: a value that
 * neither JSON nor `String` can write (a proxy that throws, a value nested
 * too deep for the stack, a null-prototype object holding a bigint) becomes
 * a placeholder (`textOf`), so a log line never fails the task that logs it.
 */
const text = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`
    return JSON.stringify(value) ?? String(value)
  } catch {
    try {
      return String(value)
    } catch {
      return textOf(value)
    }
  }
}

const plain = (value: unknown): unknown => {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return value
  }
  return text(value)
}

/** A logger that hands each line to `emit` as a `LogRecord`. */
export const forwardingLogger = (emit: (record: LogRecord) => void): Logger.Logger<unknown, void> =>
  Logger.make(({ date, fiber, logLevel, message }) => {
    const annotations: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(fiber.getRef(References.CurrentLogAnnotations))) {
      annotations[key] = plain(value)
    }
    emit({
      level: logLevel,
      message: bounded((Array.isArray(message) ? message : [message]).map(text).join(" ")),
      annotations,
      atMs: date.getTime()
    })
  })

const millis = (nanos: bigint): number => Number(nanos) / 1_000_000

class RecordingSpan extends Tracer.NativeSpan {
  private readonly records: Array<SpanRecord>

  constructor(options: ConstructorParameters<typeof Tracer.NativeSpan>[0], records: Array<SpanRecord>) {
    super(options)
    this.records = records
  }

  override end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    const startTime = this.status.startTime
    super.end(endTime, exit)
    const parent = this.parent._tag === "Some" ? this.parent.value : undefined
    const attributes: Record<string, unknown> = {}
    for (const [key, value] of this.attributes) attributes[key] = plain(value)
    this.records.push({
      name: this.name,
      traceId: this.traceId,
      spanId: this.spanId,
      ...(parent === undefined ? {} : { parentSpanId: parent.spanId }),
      startMs: millis(startTime),
      endMs: millis(endTime),
      attributes,
      ok: Exit.isSuccess(exit)
    })
  }
}

/** A tracer that records every span that ends into `records`. */
const recordingTracer = (records: Array<SpanRecord>): Tracer.Tracer =>
  Tracer.make({ span: (options) => new RecordingSpan(options, records) })

/**
 * Runs `effect` in a span named `name` whose parent is the caller's span
 * (`trace`), recording it and every span inside it into `records`.
 */
export const traced = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  trace: TraceContext,
  attributes: Record<string, unknown>,
  records: Array<SpanRecord>
): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.withSpan(name, {
      parent: Tracer.externalSpan({ traceId: trace.traceId, spanId: trace.spanId, sampled: trace.sampled }),
      attributes
    }),
    Effect.provideService(Tracer.Tracer, recordingTracer(records))
  )
