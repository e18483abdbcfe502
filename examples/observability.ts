/**
 * What a pool tells you while it works: metrics, events, logs and traces.
 *
 * A pool of two workers named `demo`, with tracing on, checks 40 orders
 * (every seventh is rejected with a typed `Rejected`) while one worker is
 * SIGKILLed halfway, so the pool restarts it and retries what it held. Then a
 * `request` span makes two thumbnails: each handler logs a line and runs
 * nested spans in its worker. The program prints a report drawn only from
 * what Troupe exposes: task counts and run times from the metrics, the
 * worker restart, the pool events around the crash, one log line forwarded
 * from a worker with its annotations, and the request's trace as a tree (the
 * child's spans replayed under the caller's span).
 *
 *     node examples/observability.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Metrics, Pool, Task } from "@troupe/core"
import { NodeProcess, NodeProgress } from "@troupe/node"
import { Console, type Duration, Effect, Logger, Metric, Option, References, Schema, Stream, Tracer } from "effect"

export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { order: Schema.Int }) {}

/** Checks one order: about 20 ms of work, and every seventh order is rejected. */
export const Check = Task.make("Check", {
  payload: Schema.Int,
  success: Schema.Int,
  error: Rejected,
  handler: (order) =>
    Effect.sleep("20 millis").pipe(
      Effect.andThen(order % 7 === 0 ? Effect.fail(new Rejected({ order })) : Effect.succeed(order))
    )
})

/** Makes a thumbnail: logs in the worker and runs two nested spans there (decode, then encode). */
export const Thumbnail = Task.make("Thumbnail", {
  payload: Schema.String,
  success: Schema.String,
  handler: (image) =>
    Effect.gen(function* () {
      yield* Effect.logInfo(`making a thumbnail of ${image}`).pipe(Effect.annotateLogs("image", image))
      yield* Effect.sleep("15 millis").pipe(Effect.withSpan("thumbnail.decode", { attributes: { image } }))
      yield* Effect.sleep("5 millis").pipe(Effect.withSpan("thumbnail.encode"))
      return `thumb-${image}`
    })
})

interface SpanView {
  readonly name: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly startNs: bigint
  readonly durationMs: number
  readonly attributes: ReadonlyMap<string, unknown>
}

/** A tracer that keeps every span that ends: a stand-in for an exporter. */
const memoryTracer = (spans: Array<SpanView>) =>
  Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        const startNs = span.status.startTime
        end(endTime, exit)
        spans.push({
          name: span.name,
          spanId: span.spanId,
          parentSpanId: Option.getOrUndefined(span.parent)?.spanId,
          startNs,
          durationMs: Number(endTime - startNs) / 1e6,
          attributes: span.attributes
        })
      }
      return span
    }
  })

interface LogView {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger that keeps every line: a stand-in for your own logger. */
const memoryLogger = (lines: Array<LogView>) =>
  Logger.make(({ fiber, message }) => {
    lines.push({
      message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
      annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
    })
  })

/** An estimate of quantile `q` from a histogram's cumulative buckets: the upper bound of its bucket. */
const quantile = (state: Metric.HistogramState, q: number): number | undefined => {
  if (state.count === 0) return undefined
  for (const [bound, cumulated] of state.buckets) if (cumulated >= q * state.count) return Math.min(bound, state.max)
  return state.max
}

const ms = (value: number | undefined) => (value === undefined ? "?" : `${Number(value.toPrecision(3))} ms`)

/** The span and its descendants, one line each, indented by depth, children by start time. */
const drawTree = (spans: ReadonlyArray<SpanView>, root: SpanView): Array<string> => {
  const shown = ["troupe.worker", "troupe.pid", "troupe.attempt", "image"]
  const lines: Array<string> = []
  const draw = (span: SpanView, depth: number) => {
    const attributes = shown
      .filter((key) => span.attributes.has(key))
      .map((key) => `${key}=${span.attributes.get(key)}`)
    lines.push(
      `${"  ".repeat(depth + 1)}${span.name} ${span.durationMs.toFixed(1)} ms ${attributes.join(" ")}`.trimEnd()
    )
    const children = spans
      .filter((child) => child.parentSpanId === span.spanId)
      .sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0))
    for (const child of children) draw(child, depth + 1)
  }
  draw(root, 0)
  return lines
}

/** Polls `effect` every 20 ms until `done` holds, for at most `timeout`. */
const eventually = <A>(effect: Effect.Effect<A>, done: (value: A) => boolean, timeout: Duration.Input = "30 seconds") =>
  effect.pipe(
    Effect.delay("20 millis"),
    Effect.repeat({ until: done }),
    Effect.timeoutOption(timeout),
    Effect.map(Option.getOrUndefined)
  )

const orders = Array.from({ length: 40 }, (_, i) => i + 1)

if (import.meta.main) {
  const spans: Array<SpanView> = []
  const logs: Array<LogView> = []

  const main = Effect.gen(function* () {
    // `prefetch: 0`: a worker holds only the task it runs, so run times are the handlers' own. With
    // prefetch (the default), a task's run time also counts its wait in the worker's own queue.
    const pool = yield* Pool.make({ name: "demo", size: 2, tracing: true, prefetch: 0, tasks: [Check, Thumbnail] })

    // Events are published from the moment a subscriber runs: subscribe at once, before any work.
    const events: Array<Pool.Event> = []
    yield* Stream.runForEach(pool.events, (event) => Effect.sync(() => events.push(event))).pipe(
      Effect.forkScoped({ startImmediately: true })
    )
    yield* eventually(pool.stats, (stats) => stats.workers.every((worker) => worker.state === "ready"))

    // Halfway through the orders, SIGKILL a busy worker: its tasks run again elsewhere (retries: 2).
    const chaos = Effect.gen(function* () {
      const settled = (stats: Pool.Stats) => stats.succeeded + Object.values(stats.failed).reduce((a, b) => a + b, 0)
      const stats = yield* eventually(pool.stats, (s) => settled(s) >= orders.length / 4, "60 seconds")
      const victim = stats?.workers.find((worker) => worker.state === "ready" && worker.held > 0) ?? stats?.workers[0]
      if (victim !== undefined) process.kill(victim.pid, "SIGKILL")
    })
    yield* Console.log(`checking ${orders.length} orders on 2 workers; one worker is SIGKILLed halfway`)
    const [checked] = yield* Effect.all(
      [
        pool.mapSettled(Check, orders, { chunkSize: 1, retries: 2, onProgress: NodeProgress.terminal("orders") }),
        chaos
      ],
      { concurrency: "unbounded" }
    )
    const rejected = checked.filter((exit) => exit._tag === "Failure").length
    yield* Console.log(`orders: ${checked.length - rejected} accepted, ${rejected} rejected`)
    yield* eventually(pool.stats, (stats) => stats.restarts >= 1 && stats.workers.every((w) => w.state === "ready"))

    // One traced request: the tasks' spans are recorded in the workers and replayed under `request`.
    const thumbnails = yield* Effect.all([pool.apply(Thumbnail, "cat.png"), pool.apply(Thumbnail, "dog.png")], {
      concurrency: "unbounded"
    }).pipe(Effect.withSpan("request"))
    yield* Console.log(`request: ${thumbnails.join(", ")}`)

    // The report: everything below comes from metrics, events, the logger and the tracer.
    const demo = { pool: "demo" }
    const count = (metric: Metric.Metric<any, Metric.CounterState<number>>) =>
      Effect.map(Metric.value(Metric.withAttributes(metric, demo)), (state) => state.count)
    const submitted = yield* count(Metrics.tasksSubmitted)
    const succeeded = yield* count(Metrics.tasksSucceeded)
    const retried = yield* count(Metrics.tasksRetried)
    const restarts = yield* count(Metrics.workerRestarts)
    // Failures are one series per error tag: list them with a snapshot of every metric.
    const failed = (yield* Metric.snapshot)
      .filter((series) => series.id === Metrics.tasksFailed.id && series.attributes?.pool === "demo")
      .map((series) => `${series.attributes?.error}=${series.type === "Counter" ? series.state.count : "?"}`)
      .sort()
    const runMs = yield* Metric.value(Metric.withAttributes(Metrics.taskRunMs, demo))
    const p50 = quantile(runMs, 0.5)
    const p99 = quantile(runMs, 0.99)

    const exited = events.findIndex((event) => event._tag === "WorkerExited")
    const crash = exited < 0 ? [] : events.slice(exited, exited + 4)
    const describe = (event: Pool.Event) => {
      switch (event._tag) {
        case "WorkerExited":
          return `WorkerExited worker=${event.worker} signal=${event.signal} reason=${event.reason}`
        case "WorkerRestarting":
          return `WorkerRestarting worker=${event.worker} delayMs=${Math.round(event.delayMs)}`
        case "WorkerStarted":
          return `WorkerStarted worker=${event.worker}`
        case "PoolDegraded":
          return `PoolDegraded live=${event.live} size=${event.size}`
        default:
          return event._tag
      }
    }

    // A worker's log line reaches this process's logger on its own message: wait for the thumbnail's.
    const line = yield* eventually(
      Effect.sync(() => logs.find((entry) => entry.message.startsWith("making a thumbnail"))),
      (found) => found !== undefined,
      "10 seconds"
    )
    const annotations = ["troupe.task", "troupe.pool", "troupe.worker", "troupe.pid", "image"]

    const request = spans.find((span) => span.name === "request")
    const tree = request === undefined ? [] : drawTree(spans, request)
    const taskSpans = request === undefined ? [] : spans.filter((span) => span.parentSpanId === request.spanId)
    const nested = spans.filter((span) => taskSpans.some((task) => task.spanId === span.parentSpanId))

    yield* Console.log("")
    yield* Console.log("tasks (metrics, pool=demo):")
    yield* Console.log(`  submitted=${submitted} succeeded=${succeeded} failed: ${failed.join(" ")} retried=${retried}`)
    yield* Console.log(`  run time p50<=${ms(p50)} p99<=${ms(p99)} (bucket bounds) over ${runMs.count} runs`)
    yield* Console.log(`workers: restarts=${restarts}`)
    yield* Console.log(`events around the crash (${events.length} received in all):`)
    for (const event of crash) yield* Console.log(`  ${describe(event)}`)
    yield* Console.log("a worker's log line, in this process's logger:")
    if (line !== undefined) {
      const shown = annotations.map((key) => `${key}=${line.annotations[key]}`).join(" ")
      yield* Console.log(`  "${line.message}" ${shown}`)
    }
    yield* Console.log("trace of the request:")
    for (const row of tree) yield* Console.log(row)

    const ok =
      submitted === orders.length + 2 &&
      succeeded === submitted - rejected &&
      failed.includes(`Rejected=${rejected}`) &&
      runMs.count > 0 &&
      p50 !== undefined &&
      p99 !== undefined &&
      restarts >= 1 &&
      crash.map((event) => event._tag).join() === "WorkerExited,PoolDegraded,WorkerRestarting,WorkerStarted" &&
      line !== undefined &&
      annotations.every((key) => line.annotations[key] !== undefined) &&
      taskSpans.length === 2 &&
      taskSpans.every((span) => span.name === "troupe.task Thumbnail") &&
      nested.length === 4
    yield* Console.log(`report_ok=${ok}`)
  })

  NodeRuntime.runMain(
    main.pipe(
      Effect.scoped,
      Effect.provide(NodeProcess.layer),
      Effect.provide(Logger.layer([memoryLogger(logs)])),
      Effect.provideService(Tracer.Tracer, memoryTracer(spans))
    )
  )
}
