/**
 * Observability on real workers: metrics move as the work drives them, a
 * child's span lands under the caller's, a child's log line reaches the
 * parent's logger annotated, lifecycle events come in order, and progress
 * reaches its total.
 */
import { it } from "@effect/vitest"
import { Keyed, Metrics, Pool, type Progress, Supervisor } from "@troupe/core"
import { NodePool, NodeProcess } from "@troupe/node"
import { Effect, Exit, Fiber, Logger, Metric, Option, References, Stream, Tracer } from "effect"
import { expect } from "vitest"
import { Counter, CounterBehaviour } from "./fixtures/actors.ts"
import { eventually, range, recordEvents, tempFile } from "./fixtures/pool.ts"
import { Chatty, Defect, Delay, FailAt, LastWords, LogsUnwritable, Pid, Square, Traced } from "./fixtures/poolTasks.ts"

const value = <S>(metric: Metric.Metric<any, S>, attributes: Record<string, string>) =>
  Metric.value(Metric.withAttributes(metric, attributes))

it.live(
  "pool metrics and stats count what happened: submitted, started, succeeded, failed by tag, times",
  () =>
    Effect.gen(function* () {
      const pool = yield* Pool.make({ name: "metrics-test", size: 2, tasks: [Square, FailAt] })
      // Both workers up: on a busy machine the first could run every task while the second still starts.
      yield* pool.ready
      yield* pool.map(Square, range(100))
      const ticks = tempFile("ticks")
      const failed = yield* pool.mapSettled(
        FailAt,
        range(10).map((i) => ({ i, failAt: 3, ms: 0, ticks }))
      )
      expect(failed.filter((exit) => exit._tag === "Failure")).toHaveLength(1)
      const tags = { pool: "metrics-test" }
      expect((yield* value(Metrics.tasksSubmitted, tags)).count).toBe(110)
      expect((yield* value(Metrics.tasksSucceeded, tags)).count).toBe(109)
      expect((yield* value(Metrics.tasksFailed, { ...tags, error: "Boom" })).count).toBe(1)
      expect((yield* value(Metrics.tasksStarted, tags)).count).toBe(110)
      expect((yield* value(Metrics.taskRunMs, tags)).count).toBe(110)
      expect((yield* value(Metrics.taskWaitMs, tags)).count).toBe(110)
      expect((yield* value(Metrics.workerStarts, tags)).count).toBe(2)
      expect((yield* value(Metrics.queueDepth, tags)).value).toBe(0)
      expect((yield* value(Metrics.workerInFlight, { ...tags, worker: "0" })).value).toBe(0)
      const stats = yield* pool.stats
      expect(stats).toMatchObject({
        name: "metrics-test",
        submitted: 110,
        succeeded: 109,
        failed: { Boom: 1 },
        started: 110,
        workerStarts: 2
      })
      expect(stats.runMs.count).toBe(110)
      expect(stats.runMs.p50).toBeGreaterThan(0)
      const names = new Set((yield* Metric.snapshot).map((snapshot) => snapshot.id))
      for (const name of ["troupe_pool_tasks_submitted", "troupe_pool_task_run_ms", "troupe_pool_worker_rss_bytes"]) {
        expect(names.has(name), name).toBe(true)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a crash shows as events in order (exited, degraded, restarting, started) and in the metrics; a retry as TaskRetried",
  () =>
    Effect.gen(function* () {
      const pool = yield* Pool.make({ name: "events-test", size: 1, tasks: [Pid, Square, Delay] })
      const events = yield* recordEvents(pool)
      yield* Effect.sleep(20)
      const pid = yield* pool.apply(Pid, 0)
      process.kill(pid, "SIGKILL")
      yield* eventually(pool.stats, (stats) => stats.workers[0]!.state === "ready" && stats.workers[0]!.pid !== pid)
      expect(yield* pool.apply(Square, 3)).toBe(9)
      const exited = events.findIndex((event) => event._tag === "WorkerExited")
      expect(events.slice(exited, exited + 4).map((event) => event._tag)).toEqual([
        "WorkerExited",
        "PoolDegraded",
        "WorkerRestarting",
        "WorkerStarted"
      ])
      expect(events[exited + 1]).toMatchObject({ live: 0, size: 1 })
      expect(events[exited]).toMatchObject({ _tag: "WorkerExited", pid, signal: "SIGKILL", reason: "crashed" })
      const tags = { pool: "events-test" }
      expect((yield* value(Metrics.workerRestarts, tags)).count).toBe(1)
      expect((yield* value(Metrics.workerExits, { ...tags, exit: "signal SIGKILL" })).count).toBe(1)
      expect((yield* value(Metrics.backoffMs, tags)).count).toBe(1)
      // A task whose worker dies under it runs again: TaskRetried, with the pid it lost.
      const ticks = tempFile("ticks")
      const retried = yield* Effect.forkChild(pool.apply(Delay, { value: 7, ms: 2000, ticks }, { retries: 1 }))
      const busy = yield* eventually(pool.stats, (stats) => stats.inFlight === 1 && stats.workers[0]!.state === "ready")
      yield* Effect.sleep(200)
      process.kill(busy.workers[0]!.pid, "SIGKILL")
      expect(yield* Fiber.join(retried)).toBe(7)
      expect(events.find((event) => event._tag === "TaskRetried")).toMatchObject({
        task: "pool/Delay",
        attempt: 2,
        pid: busy.workers[0]!.pid
      })
      expect((yield* value(Metrics.tasksRetried, tags)).count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

interface Recorded {
  readonly name: string
  readonly spanId: string
  readonly traceId: string
  readonly parentSpanId: string | undefined
  readonly attributes: ReadonlyMap<string, unknown>
  readonly ok: boolean
}

/** A tracer that keeps every span that ends. */
const memoryTracer = (spans: Array<Recorded>) =>
  Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        end(endTime, exit)
        spans.push({
          name: span.name,
          spanId: span.spanId,
          traceId: span.traceId,
          parentSpanId: Option.getOrUndefined(span.parent)?.spanId,
          attributes: span.attributes,
          ok: Exit.isSuccess(exit)
        })
      }
      return span
    }
  })

it.live(
  "a task called inside a span runs in a child span of it, with the work inside the child nested below",
  () => {
    const spans: Array<Recorded> = []
    return Effect.gen(function* () {
      const pool = yield* Pool.make({ size: 1, tracing: true, tasks: [Traced, Pid] })
      const workerPid = yield* pool.apply(Pid, 0)
      expect(yield* pool.apply(Traced, 21).pipe(Effect.withSpan("caller"))).toBe(42)
      const caller = spans.find((span) => span.name === "caller")!
      const task = spans.find((span) => span.name === "troupe.task pool/Traced")!
      const inner = spans.find((span) => span.name === "inner work")!
      expect(task.traceId).toBe(caller.traceId)
      expect(task.parentSpanId).toBe(caller.spanId)
      expect(inner.traceId).toBe(caller.traceId)
      expect(inner.parentSpanId).toBe(task.spanId)
      expect(task.attributes.get("troupe.pid")).toBe(workerPid)
      expect(task.attributes.get("troupe.attempt")).toBe(1)
      expect(inner.attributes.get("n")).toBe(21)
      // A call outside any span is not traced.
      const before = spans.length
      yield* pool.apply(Traced, 1)
      expect(spans.length).toBe(before)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer), Effect.provideService(Tracer.Tracer, memoryTracer(spans)))
  },
  60_000
)

it.live(
  "a task's span ends as the task did: a typed failure and a defect end it as failures",
  () => {
    const spans: Array<Recorded> = []
    return Effect.gen(function* () {
      const pool = yield* Pool.make({ size: 1, tracing: true, tasks: [Pid, FailAt, Defect] })
      const ended = (name: string) => spans.filter((span) => span.name === `troupe.task ${name}`).map((span) => span.ok)
      yield* pool.apply(Pid, 0).pipe(Effect.withSpan("caller"))
      const failure = yield* Effect.exit(
        pool.apply(FailAt, { i: 0, failAt: 0, ms: 0, ticks: tempFile("ticks") }).pipe(Effect.withSpan("caller"))
      )
      const defect = yield* Effect.exit(pool.apply(Defect, 0).pipe(Effect.withSpan("caller")))
      expect(Exit.isFailure(failure) && Exit.isFailure(defect)).toBe(true)
      expect(ended("pool/Pid")).toEqual([true])
      expect(ended("pool/FailAt")).toEqual([false])
      expect(ended("pool/Defect")).toEqual([false])
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer), Effect.provideService(Tracer.Tracer, memoryTracer(spans)))
  },
  60_000
)

for (const backend of ["process", "thread"] as const) {
  it.live(
    `${backend}: a log line or a span attribute that cannot be written (a throwing Proxy, 5,000 levels deep, a null-prototype object with a bigint) never fails its task; the line still arrives`,
    () => {
      const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ fiber, message }) => {
        lines.push({ message, annotations: { ...fiber.getRef(References.CurrentLogAnnotations) } })
      })
      const spans: Array<Recorded> = []
      return Effect.gen(function* () {
        const pool = yield* Pool.make({ size: 1, tracing: true })
        for (const kind of ["proxy", "deep", "nullPrototypeBigint"]) {
          lines.length = 0
          expect(yield* pool.apply(LogsUnwritable, kind).pipe(Effect.withSpan("caller"))).toBe(kind)
          yield* eventually(
            Effect.sync(() => lines.length),
            (count) => count > 0
          )
          expect(JSON.stringify(lines[0]!.message)).toContain("unwritable")
          expect(typeof lines[0]!.annotations.hostile).toBe("string")
        }
        const replayed = spans.filter((span) => span.name === "unwritable span")
        expect(replayed.map((span) => typeof span.attributes.get("hostile"))).toEqual(["string", "string", "string"])
        const stats = yield* pool.stats
        expect({ restarts: stats.restarts, workerStarts: stats.workerStarts }).toEqual({ restarts: 0, workerStarts: 1 })
      }).pipe(
        Effect.scoped,
        Effect.provide(NodePool.transport(backend)),
        Effect.provide(Logger.layer([capture])),
        Effect.provideService(Tracer.Tracer, memoryTracer(spans))
      )
    },
    60_000
  )
}

it.live(
  "a child's log line reaches the parent's logger with its level, the task, the worker and the pid",
  () => {
    const lines: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
    const capture = Logger.make(({ fiber, logLevel, message }) => {
      lines.push({
        level: logLevel,
        message,
        annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
      })
    })
    return Effect.gen(function* () {
      const pool = yield* Pool.make({ name: "logs-test", size: 1, tasks: [Chatty, Pid] })
      const pid = yield* pool.apply(Pid, 0)
      yield* pool.apply(Chatty, 5)
      yield* eventually(
        Effect.sync(() => lines.length),
        (count) => count > 0
      )
      const line = lines.find((entry) => JSON.stringify(entry.message).includes("chatty 5"))!
      expect(line.level).toBe("Warn")
      expect(line.annotations).toMatchObject({
        "troupe.task": "pool/Chatty",
        "troupe.pool": "logs-test",
        "troupe.worker": 0,
        "troupe.pid": pid,
        request: "r5"
      })
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer), Effect.provide(Logger.layer([capture])))
  },
  60_000
)

it.live(
  "map and imap report progress up to their total",
  () =>
    Effect.gen(function* () {
      const pool = yield* Pool.make({ size: 2, tasks: [Square] })
      const reports: Array<Progress.Progress> = []
      yield* pool.map(Square, range(500), { chunkSize: 1, onProgress: (progress) => reports.push(progress) })
      expect(reports.at(-1)).toMatchObject({ done: 500, failed: 0, total: 500, finished: true })
      const streamed: Array<Progress.Progress> = []
      const results = yield* Stream.runCollect(
        pool.imap(Square, Stream.fromIterable(range(300)), {
          total: 300,
          onProgress: (progress) => streamed.push(progress)
        })
      )
      expect(results).toHaveLength(300)
      expect(streamed.at(-1)).toMatchObject({ done: 300, total: 300, finished: true })
      expect(streamed.filter((progress) => progress.finished)).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "supervisor metrics: restarts, escalations and a worker's mailbox depth",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start({ name: "metrics-tree", intensity: 1, period: "1 minute" }, [
        Supervisor.worker("c1", CounterBehaviour)
      ])
      const counter = sup.ref("c1", Counter)
      const slow = yield* Effect.forkChild(counter.ask("Sleep", { ms: 300 }))
      yield* Effect.sleep(20)
      yield* counter.tell("Increment", { by: 1 })
      const depth = yield* value(Metrics.mailboxDepth, { supervisor: "metrics-tree", actor: "Counter", key: "c1" })
      expect(depth.value).toBe(2)
      yield* Fiber.join(slow)
      const pid = yield* counter.ask("Pid", undefined)
      process.kill(pid, "SIGKILL")
      yield* eventually(value(Metrics.supervisorRestarts, { supervisor: "metrics-tree" }), (state) => state.count === 1)
      const newPid = yield* eventually(
        counter.ask("Pid", undefined).pipe(Effect.orElseSucceed(() => pid)),
        (p) => p !== pid
      )
      process.kill(newPid, "SIGKILL")
      yield* Effect.exit(sup.join)
      expect((yield* value(Metrics.supervisorEscalations, { supervisor: "metrics-tree" })).count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a closed pool's metric series leave the registry; a child's last log line before process.exit arrives",
  () => {
    const lines: Array<unknown> = []
    const capture = Logger.make(({ message }) => {
      lines.push(message)
    })
    return Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const pool = yield* Pool.make({ name: "short-lived", size: 1, tasks: [LastWords] })
        expect((yield* Metric.snapshot).some((snapshot) => snapshot.attributes?.pool === "short-lived")).toBe(true)
        const exit = yield* Effect.exit(pool.apply(LastWords, 3))
        expect(JSON.stringify(exit)).toContain("WorkerCrashed")
      }).pipe(Effect.scoped)
      expect((yield* Metric.snapshot).some((snapshot) => snapshot.attributes?.pool === "short-lived")).toBe(false)
      expect(JSON.stringify(lines)).toContain("last words 3")
    }).pipe(Effect.provide(NodeProcess.layer), Effect.provide(Logger.layer([capture])))
  },
  60_000
)

it.live(
  "an actor's log line reaches the parent's logger with the actor, its key and the host's pid",
  () => {
    const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
    const capture = Logger.make(({ fiber, message }) => {
      lines.push({ message, annotations: { ...fiber.getRef(References.CurrentLogAnnotations) } })
    })
    return Effect.gen(function* () {
      const counters = yield* Keyed.make(CounterBehaviour, { hosts: 1 })
      yield* counters.get("k1").ask("Say", { text: "hello from k1" })
      const [pid] = yield* counters.pids
      yield* eventually(
        Effect.sync(() => lines.length),
        (count) => count > 0
      )
      const line = lines.find((entry) => JSON.stringify(entry.message).includes("hello from k1"))
      expect(line?.annotations).toMatchObject({ "troupe.actor": "Counter", "troupe.key": "k1", "troupe.pid": pid })
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer), Effect.provide(Logger.layer([capture])))
  },
  60_000
)
