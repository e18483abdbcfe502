/**
 * A load-balanced, self-healing pool of child processes (or threads) that
 * runs typed tasks: Troupe's `multiprocessing.Pool`.
 *
 * The pool is a scoped service. Callers submit tasks (`apply`, `map`,
 * `imap`, ...); a bounded queue holds them until a balancer hands each one to
 * a worker with room. Every dispatched task belongs to exactly one worker:
 * when a worker dies, only the tasks it held fail with `WorkerCrashed` (or run
 * again elsewhere, for tasks with `retries`), and a replacement starts after
 * a backoff. Past the restart intensity (OTP's sliding window) the pool gives
 * up, and every waiting and later caller receives `RestartIntensityExceeded`.
 * Closing the scope refuses new work, drains what was submitted up to a
 * deadline, then stops every worker and its process group.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Balancer from "./Balancer.ts"
import * as ProcessContext from "./internal/child/processContext.ts"
import { makeCalls, onInterrupt, type StartOne } from "./internal/pool/calls.ts"
import { Dispatcher } from "./internal/pool/dispatcher.ts"
import { Modules } from "./internal/pool/modules.ts"
import {
  defaultSize,
  millis,
  maxPoolSize as poolSizeLimit,
  timerMillis,
  validate
} from "./internal/pool/poolOptions.ts"
import { PoolTelemetry } from "./internal/pool/poolTelemetry.ts"
import { Slot } from "./internal/pool/slot.ts"
import { Submission } from "./internal/pool/submission.ts"
import { makeSupervision } from "./internal/pool/supervision.ts"
import { type Histogram, quantile } from "./internal/telemetry.ts"
import * as Codec from "./internal/wire/codec.ts"
import type * as Progress from "./Progress.ts"
import * as RestartPolicy from "./RestartPolicy.ts"
import type * as Task from "./Task.ts"
import { defaultMaxFrameBytes, type SpawnOptions, Transport } from "./Transport.ts"
import {
  type ArgumentEncodeError,
  type InputError,
  type InvalidOption,
  type PoolCallError,
  type PoolShuttingDown,
  type QueueFull,
  type RequestValidationError,
  type RestartIntensityExceeded,
  StartedWhileBootstrapping
} from "./TroupeError.ts"

/**
 * The most workers a pool may have (1024): a bigger `size` fails `make` with
 * `InvalidOption`. Each worker is a process or a thread with a heap of its
 * own; far more would exhaust a machine before it helped.
 *
 * @example
 * ```ts
 * import { Pool } from "@troupe/core"
 *
 * const size = Math.min(4096, Pool.maxPoolSize) // 1024
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const maxPoolSize: number = poolSizeLimit

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The pool's name in metrics (`pool` tag), events and log annotations (default `"pool"`). */
  readonly name?: string | undefined
  /**
   * Trace tasks called inside a span: the child's work appears as a child
   * span of the caller's, in the caller's tracer. Off by default: it halves
   * the throughput of tiny tasks (measured in docs/observability.md). Calls
   * made outside any span are never traced.
   */
  readonly tracing?: boolean | undefined
  /**
   * Number of workers, at most `maxPoolSize` (1024). Default: the platform's
   * parallelism (`os.availableParallelism()` on Node).
   */
  readonly size?: number | undefined
  /**
   * Start every worker when the pool starts (`"eager"`, default) or on demand
   * (`"lazy"`): then a worker starts only for a job that waits with no worker
   * free, counting the workers already starting, so 4 concurrent calls start
   * at most 4 workers. (With a keyed balancer, such as
   * `Balancer.keyAffinity`, every worker starts at the first demand: the job
   * waits for its own worker.)
   */
  readonly start?: "eager" | "lazy" | undefined
  /** Tasks one worker runs at once, for async handlers (default 1). */
  readonly concurrency?: number | undefined
  /** Extra tasks a busy worker may hold queued in its own process when many are waiting (default 32). */
  readonly prefetch?: number | undefined
  /** Tasks the pool's queue holds before `apply` waits and `offer` fails (default 1000). */
  readonly queueSize?: number | undefined
  /** How a task finds its worker (default `Balancer.leastBusy()`). */
  readonly balancer?: Balancer.Balancer<any> | undefined
  /**
   * Tasks the pool will run. Workers load their modules before they report
   * ready; without this, a pool learns them from the first calls (and, when
   * workers are started from bundles, restarts idle workers to take them in).
   */
  readonly tasks?: ReadonlyArray<Task.Any> | undefined
  /** A task every worker runs once when it starts, before any other; its failure is an `InitializerError`. */
  readonly initializer?: { readonly task: Task.Any; readonly payload: unknown } | undefined
  /** Crash retries for tasks that do not set their own (default 0). */
  readonly retries?: number | undefined
  /** Deadline for tasks that do not set their own, from dispatch to a worker (default: none). */
  readonly timeout?: Duration.Input | undefined
  /** Retire a worker after this many tasks (after its current task), like `maxtasksperchild`. */
  readonly maxTasksPerWorker?: number | undefined
  /** Retire a worker whose resident set size passes this many megabytes, checked between tasks. */
  readonly maxMemoryPerWorkerMb?: number | undefined
  /** Retire a worker idle this long, down to `minSize`. Default: never. */
  readonly idleTimeout?: Duration.Input | undefined
  /** The fewest workers an idle pool shrinks to (default 0). */
  readonly minSize?: number | undefined
  /**
   * The restart intensity: at most `intensity` worker failures within `period` (default `2 * size` in 10 s), the
   * same fields as a supervision tree's and a keyed group's. Past it, by default (`onExceeded: "degrade"`), the
   * pool keeps restarting its workers at the backoff's `max` and reports itself degraded (`PoolOverIntensity`
   * events, `stats.degraded`, the `troupe_pool_degraded` gauge) until a `period` passes within the intensity: a
   * long-running service lives through a bad spell. `onExceeded: "giveUp"` is OTP's strict behaviour: the pool
   * stops its workers and fails every waiting and later call with `RestartIntensityExceeded` (the default for a
   * pool in a supervision tree, which then restarts it).
   */
  readonly intensity?: number | undefined
  /** The window of `intensity` (default 10 seconds). */
  readonly period?: Duration.Input | undefined
  /** Past the intensity: `"degrade"` (default) or `"giveUp"` (OTP's). */
  readonly onExceeded?: "degrade" | "giveUp" | undefined
  /** @deprecated The same as `intensity`, `period` and `onExceeded`, which win when both are set. */
  readonly restartIntensity?:
    | {
        readonly maxRestarts: number
        readonly period: Duration.Input
        readonly onExceeded?: "degrade" | "giveUp" | undefined
      }
    | undefined
  /**
   * Delay before a replacement starts: Akka's formula (default 5 ms doubling to 1 s, 20% jitter), per worker;
   * `resetAfter` (default `(min + max) / 2`) and `maxRestarts` (consecutive failures of one worker) as on a
   * supervisor's `backoff`.
   */
  readonly backoff?: RestartPolicy.Backoff | undefined
  /**
   * Closing the scope drains submitted work (`"all"`, default) or only
   * running work (`"inFlight"`), up to `timeout` (default 10 s), then stops
   * the workers. A scope closed by an interruption (a signal under
   * `NodeRuntime.runMain`, a timeout, an interrupted fiber) does not drain
   * unless `onInterrupt` is `"drain"`: with `"stop"` (default) queued calls
   * fail at once and running tasks fail as their workers are stopped
   * (SIGTERM, then SIGKILL after `killTimeout`), all with `ShutdownError`.
   */
  readonly shutdown?:
    | {
        readonly drain?: "all" | "inFlight" | undefined
        readonly timeout?: Duration.Input | undefined
        readonly onInterrupt?: "stop" | "drain" | undefined
      }
    | undefined
  /** How long a stopping worker gets between SIGTERM and SIGKILL (default 1 s). */
  readonly killTimeout?: Duration.Input | undefined
  /** How long an interrupted or timed-out task may take to let go before its worker is replaced (default 500 ms). */
  readonly interruptGrace?: Duration.Input | undefined
  /**
   * The largest payload or reply, in UTF-8 bytes of its encoded JSON (default:
   * no limit). A bigger payload fails in the caller with `PayloadTooLarge`
   * before it is queued; a bigger reply is replaced in the worker by the same
   * error, and the worker stays.
   */
  readonly maxPayloadBytes?: number | undefined
  /**
   * The most the pool takes from a worker in one message, in bytes (default
   * 64 MiB, or `2 * maxPayloadBytes + 1 MiB` when that is more). A forked
   * worker knows it: a reply (a result, a typed error) or a call to the
   * parent whose frame would be over it fails alone with `PayloadTooLarge`,
   * and the worker keeps serving; replies too big to travel together go one
   * message each. A worker that sends more anyway, in one frame or in one
   * unfinished line on its channel, is killed: the tasks it held fail with
   * `WorkerCrashed` (its `reason` says why), or run again if they have
   * retries, and it is replaced. Worker threads are not bounded: a thread's
   * message is in the parent's heap before the parent can look at it.
   */
  readonly maxFrameBytes?: number | undefined
  /** How long a worker may take to start (default 30 s). */
  readonly startTimeout?: Duration.Input | undefined
  /**
   * How long a worker may take to import one task module (default 10 s; keep
   * it below `startTimeout`, since a worker preloads its modules before it
   * reports ready). A module whose top-level `await` never settles fails its
   * calls with a `SpawnError` of reason `ModuleLoadTimeout`; the worker stuck
   * in that import is replaced, no worker preloads the module again, and
   * later calls of its tasks fail at once with the same error. Tasks of other
   * modules are not affected.
   */
  readonly moduleLoadTimeout?: Duration.Input | undefined
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
}

/**
 * Per-call settings that override the task's and the pool's.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  readonly retries?: number | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OfferOptions extends CallOptions {
  /** How long to wait for room in a full queue before failing with `QueueFull` (default: not at all). */
  readonly wait?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MapOptions extends CallOptions {
  /** Items per dispatch (one message to one worker). Default for arrays: `ceil(n / (4 * size))`. */
  readonly chunkSize?: number | undefined
  /** Called as items finish (at most every 100 ms, and once at the end); see `Progress`. */
  readonly onProgress?: ((progress: Progress.Progress) => void) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions extends MapOptions {
  /** Items in flight at once; the input is never read further ahead. Default `2 * size`. */
  readonly bufferSize?: number | undefined
  /** How many items the stream holds, when known: progress reports then have a `total`. */
  readonly total?: number | undefined
}

/**
 * A snapshot of the pool, as data.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly name: string
  readonly size: number
  readonly workers: ReadonlyArray<{
    readonly slot: number
    readonly pid: number
    readonly state: string
    readonly held: number
    /** Resident memory as last reported by the worker, in bytes. */
    readonly rssBytes: number | null
  }>
  readonly queued: number
  readonly inFlight: number
  readonly restarts: number
  /** Restarts are past the intensity (`onExceeded: "degrade"`): workers restart at the backoff's `max`. */
  readonly degraded: boolean
  readonly submitted: number
  /** Task runs handed to workers (retries included). */
  readonly started: number
  readonly succeeded: number
  /** Failed tasks by error tag. */
  readonly failed: Readonly<Record<string, number>>
  readonly retried: number
  readonly workerStarts: number
  /** Worker exits by `code <n>` or `signal <NAME>`. */
  readonly workerExits: Readonly<Record<string, number>>
  /** Dispatch to reply, in milliseconds (from the histogram: p50 and p99 are bucket bounds). */
  readonly runMs: HistogramSummary
  /** Submission to dispatch, in milliseconds. */
  readonly waitMs: HistogramSummary
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HistogramSummary {
  readonly count: number
  readonly p50: number | null
  readonly p99: number | null
  readonly max: number | null
}

/**
 * What happened in a pool, for logs and alerts: `at` is `Date.now()`.
 *
 * - `WorkerStarted`: a worker is ready to serve.
 * - `WorkerExited`: it ended: `crashed`, or deliberately (`retired`, `idle`, `stopped`).
 * - `WorkerRestarting`: a replacement starts after `delayMs`.
 * - `WorkerStartFailed`: a worker could not start; `PoolDegraded` follows.
 * - `TaskRetried`: a task runs again after its worker died (`attempt` is the next run).
 * - `PoolDegraded`: fewer workers serve than the pool's size, after a crash or a failed start.
 * - `PoolOverIntensity`: a failure past the restart intensity under `onExceeded: "degrade"`: the pool goes on,
 *   degraded, restarting that worker after the backoff's `max`.
 * - `PoolGaveUp`: the restart intensity was exceeded (`onExceeded: "giveUp"`), or a worker failed more than
 *   `backoff.maxRestarts` times in a row; the pool takes no more work.
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | { readonly _tag: "WorkerStarted"; readonly worker: number; readonly pid: number; readonly at: number }
  | {
      readonly _tag: "WorkerExited"
      readonly worker: number
      readonly pid: number
      readonly code: number | null
      readonly signal: string | null
      readonly reason: "crashed" | "retired" | "idle" | "stopped"
      readonly at: number
    }
  | { readonly _tag: "WorkerRestarting"; readonly worker: number; readonly delayMs: number; readonly at: number }
  | { readonly _tag: "WorkerStartFailed"; readonly worker: number; readonly message: string; readonly at: number }
  | {
      readonly _tag: "TaskRetried"
      readonly task: string
      readonly taskId: number
      readonly attempt: number
      readonly pid: number
      readonly at: number
    }
  | { readonly _tag: "PoolDegraded"; readonly live: number; readonly size: number; readonly at: number }
  | {
      readonly _tag: "PoolOverIntensity"
      readonly restarts: number
      readonly periodMs: number
      readonly reason: string
      readonly at: number
    }
  | { readonly _tag: "PoolGaveUp"; readonly reason: string; readonly at: number }

/**
 * What one call of a task `T` in a pool gives: the task's success, or its
 * typed error or a pool error.
 *
 * @since 0.1.0
 * @category models
 */
export type Result<T> = Effect.Effect<Task.Success<T>, Task.Error<T> | PoolCallError>

/**
 * The pool's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Runs one task and waits for its result; waits for room when the queue is full. */
  readonly apply: <T extends Task.Any>(task: T, payload: Task.Payload<T>, options?: CallOptions) => Result<T>
  /** Like `apply`, but fails with `QueueFull` when the queue is full: at once, or after waiting `wait` for room. */
  readonly offer: <T extends Task.Any>(
    task: T,
    payload: Task.Payload<T>,
    options?: OfferOptions
  ) => Effect.Effect<Task.Success<T>, Task.Error<T> | PoolCallError | QueueFull>
  /**
   * Runs the task on every item; results in input order. Fails fast: the first failure interrupts the rest.
   * The items are read when the Effect runs (each run reads them again); an iterable that throws, or items that are
   * not iterable, are an `InputError`.
   */
  readonly map: <T extends Task.Any>(
    task: T,
    items: Iterable<Task.Payload<T>>,
    options?: MapOptions
  ) => Effect.Effect<Array<Task.Success<T>>, Task.Error<T> | PoolCallError | InputError>
  /** Runs the task on every item and returns every item's `Exit`, in input order; nothing is interrupted. */
  readonly mapSettled: <T extends Task.Any>(
    task: T,
    items: Iterable<Task.Payload<T>>,
    options?: MapOptions
  ) => Effect.Effect<
    Array<Exit.Exit<Task.Success<T>, Task.Error<T> | PoolCallError>>,
    RequestValidationError | PoolShuttingDown | RestartIntensityExceeded | InputError | InvalidOption
  >
  /** `map` for tasks whose payload is a tuple. */
  readonly starmap: <T extends Task.Any>(
    task: T & { readonly payloadSchema: { readonly Type: ReadonlyArray<unknown> } },
    tuples: Iterable<Task.Payload<T>>,
    options?: MapOptions
  ) => Effect.Effect<Array<Task.Success<T>>, Task.Error<T> | PoolCallError | InputError>
  /**
   * A lazy, backpressured stream of results in input order. A failed item ends it at its own place, after every
   * earlier result (as Python's `imap`). Stopping it early interrupts what is in flight.
   * `items` is a `Stream` or an `Iterable`: an iterable is read one item at a time, never more than `bufferSize`
   * items ahead, and one that throws ends the stream with an `InputError`. (A `Stream` reads as far ahead as its
   * own chunks: `Stream.fromIterable` reads 4,096 items at a time unless given a `chunkSize`.)
   */
  readonly imap: <T extends Task.Any, E = never, R = never>(
    task: T,
    items: Stream.Stream<Task.Payload<T>, E, R> | Iterable<Task.Payload<T>>,
    options?: StreamOptions
  ) => Stream.Stream<Task.Success<T>, Task.Error<T> | PoolCallError | InputError | E, R>
  /** Like `imap`, in completion order: the first item to fail ends it. */
  readonly imapUnordered: <T extends Task.Any, E = never, R = never>(
    task: T,
    items: Stream.Stream<Task.Payload<T>, E, R> | Iterable<Task.Payload<T>>,
    options?: StreamOptions
  ) => Stream.Stream<Task.Success<T>, Task.Error<T> | PoolCallError | InputError | E, R>
  readonly stats: Effect.Effect<Stats>
  /**
   * Waits until no worker is starting: with `start: "eager"` (the default),
   * until every worker is up and ready to serve (a service's readiness).
   * Fails if the pool gave up (`RestartIntensityExceeded`) or is shutting down.
   */
  readonly ready: Effect.Effect<void, RestartIntensityExceeded | PoolShuttingDown>
  /** Lifecycle events from now on (subscribe before the events you want to see). */
  readonly events: Stream.Stream<Event>
}

/**
 * The pool service.
 *
 * @since 0.1.0
 * @category services
 */
export class Pool extends Context.Service<Pool, Service>()("@troupe/core/Pool") {}

/**
 * Starts a pool in the current scope.
 *
 * In a child that is still importing its task modules (code at a module's
 * top level, outside its `import.meta.main` guard), `make` fails at once with
 * `StartedWhileBootstrapping`: every worker would import the module again
 * and start another pool.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Pool, Task } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 *
 * export const Square = Task.make("Square", { payload: Schema.Number, success: Schema.Number, handler: (n) => Effect.succeed(n * n) })
 *
 * if (import.meta.main) {
 *   const program = Effect.gen(function*() {
 *     const pool = yield* Pool.make({ size: 4 })
 *     return yield* pool.map(Square, [1, 2, 3, 4, 5]) // [1, 4, 9, 16, 25]
 *   })
 *   Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeProcess.layer))).then(console.log)
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (
  given: Options = {}
): Effect.fn.Return<
  Service,
  RequestValidationError | ArgumentEncodeError | InvalidOption | StartedWhileBootstrapping,
  Transport | Scope.Scope
> {
  if (ProcessContext.refusesStart(yield* Effect.withFiber(Effect.succeed))) {
    return yield* new StartedWhileBootstrapping({ what: "pool", pid: ProcessContext.identity().pid })
  }
  // `null`, from an untyped caller, is no options.
  const options: Options = given ?? {}
  const size = options.size ?? Math.min(defaultSize(), poolSizeLimit)
  const invalid = validate({ ...options, size })
  if (invalid !== undefined) return yield* invalid
  const transport = yield* Transport
  const name = options.name ?? "pool"
  const tracing = options.tracing ?? false
  // The pool's context carries the logger, tracer and metric registry that its telemetry reports to.
  const context = yield* Effect.context<never>()
  const concurrency = options.concurrency ?? 1
  const balancer = options.balancer ?? Balancer.leastBusy()
  const telemetry: PoolTelemetry = new PoolTelemetry(name, context, (): number => dispatcher.queue.length)
  const dispatcher: Dispatcher = new Dispatcher({
    telemetry,
    queueSize: options.queueSize ?? 1000,
    concurrency,
    prefetch: options.prefetch ?? 32,
    balancer,
    size,
    interruptGraceMs: millis(options.interruptGrace) ?? 500,
    // Hoisted: declared below, with the slots it starts.
    onDemand: startOnDemand
  })
  const initializer =
    options.initializer === undefined
      ? undefined
      : {
          task: options.initializer.task,
          encoded: yield* Codec.encodePayload(
            options.initializer.task,
            options.initializer.payload,
            transport.sharesMemory === true
          )
        }
  const killGraceMs = millis(options.killTimeout) ?? 1000
  const minSize = options.minSize ?? 0
  // Modules of the tasks this pool has run: a new worker imports them before it reports ready.
  const modules = new Modules(dispatcher, [
    ...(options.initializer === undefined ? [] : [options.initializer.task.module]),
    ...(options.tasks ?? []).map((task) => task.module)
  ])
  const spawnOptions: SpawnOptions = {
    // Workers share the parent's output: a pool has no reader for piped streams, and a full pipe would block a worker.
    stdout: "inherit",
    stderr: "inherit",
    runner: {
      once: false,
      concurrency,
      reportRss: options.maxMemoryPerWorkerMb !== undefined,
      preload: [],
      bundled: false,
      moduleLoadTimeoutMs: timerMillis(millis(options.moduleLoadTimeout) ?? 10_000),
      ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes })
    },
    maxFrameBytes:
      options.maxFrameBytes ?? Math.max(defaultMaxFrameBytes, 2 * (options.maxPayloadBytes ?? 0) + 1024 * 1024),
    shutdownTimeout: Duration.millis(killGraceMs),
    env: options.env,
    execArgv: options.execArgv
  }
  const isLive = (slot: Slot) => slot.state !== "empty" && slot.state !== "down"
  const liveCount = () => dispatcher.slots.filter(isLive).length
  // Slots are made as they are first used (all of them at once for an eager pool, or a keyed balancer's ring).
  const slots = dispatcher.slots
  const slotContext = {
    dispatcher,
    transport,
    spawn: (worker: number) => ({
      ...spawnOptions,
      runner: {
        ...spawnOptions.runner,
        preload: modules.preload(),
        identity: { name: `${name}-${worker}`, pool: name, worker }
      }
    }),
    initializer,
    maxTasksPerWorker: options.maxTasksPerWorker ?? Number.POSITIVE_INFINITY,
    maxRssBytes: (options.maxMemoryPerWorkerMb ?? Number.POSITIVE_INFINITY) * 1024 * 1024,
    idleTimeoutMs: millis(options.idleTimeout),
    killGraceMs,
    startTimeout: options.startTimeout ?? Duration.seconds(30),
    // Counts only the workers that will stay: idle timers that fire together would each see the others, retiring
    // but not gone yet, as live, and all retire below `minSize`.
    mayShrink: () => slots.filter((slot) => isLive(slot) && !slot.leaving).length > minSize,
    isStale: modules.isStale,
    moduleTimedOut: modules.moduleTimedOut
  }
  const addSlot = (): Slot => {
    const slot = new Slot(slots.length, slotContext)
    slots.push(slot)
    telemetry.addWorker(slot)
    return slot
  }
  const lazy = options.start === "lazy"
  if (!lazy || balancer.keyed === true) while (slots.length < size) addSlot()
  // Runs after the shutdown below (finalizers run in reverse): the pool's metric series leave with it.
  yield* Effect.addFinalizer(() =>
    PubSub.shutdown(telemetry.events).pipe(Effect.andThen(Effect.sync(() => telemetry.close())))
  )

  // The supervision path: one fiber per occupied slot, restarting its worker per the policy.
  const supervision = makeSupervision({
    dispatcher,
    liveCount,
    intensity: RestartPolicy.intensity(
      options.intensity ?? options.restartIntensity?.maxRestarts ?? 2 * size,
      options.period ?? options.restartIntensity?.period ?? Duration.seconds(10)
    ),
    backoff: options.backoff ?? { min: "5 millis", max: "1 second", randomFactor: 0.2 },
    onExceeded: options.onExceeded ?? options.restartIntensity?.onExceeded ?? "degrade"
  })
  const supervise = supervision.supervise

  const run = yield* FiberSet.makeRuntime<never>()
  // Slots a supervising fiber holds: once all `size` are, a deep queue asks for no more workers (each reply's pump).
  let occupied = 0
  const occupy = (slot: Slot) => {
    if (dispatcher.broken !== undefined || (dispatcher.closing && dispatcher.queue.length === 0)) return
    if (!slot.occupy()) return
    occupied++
    run(
      supervise(slot).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            occupied--
            slot.vacate()
          })
        )
      )
    )
  }
  // Queued work with no worker free: start a worker per waiting job, counting those already starting. A keyed job
  // waits for its own worker, which may be any of them: a keyed balancer starts them all. It runs at every call made
  // while others wait, often before V8 has optimized it: indexed loops, which cost no iterator there.
  function startOnDemand(): void {
    if (occupied === size) return
    if (balancer.keyed === true) {
      for (let i = 0; i < slots.length; i++) occupy(slots[i]!)
      return
    }
    let wanted = dispatcher.queue.length
    for (let i = 0; i < slots.length; i++) if (slots[i]!.state === "starting") wanted--
    for (let i = 0; i < slots.length; i++) {
      if (wanted <= 0) return
      const slot = slots[i]!
      if (slot.state === "empty") {
        occupy(slot)
        wanted--
      }
    }
    while (wanted-- > 0 && slots.length < size) occupy(addSlot())
  }
  if (!lazy) for (const slot of slots) occupy(slot)

  // Shutdown: refuse new work, drain up to the deadline, then stop every worker. An interrupted program stops at once:
  // its callers are interrupted too, but only once the scope is closed, so draining for them would only wait.
  const drain = options.shutdown?.drain ?? "all"
  const shutdownTimeout = options.shutdown?.timeout ?? Duration.seconds(10)
  const onInterrupt = options.shutdown?.onInterrupt ?? "stop"
  yield* Effect.addFinalizer((exit) =>
    Effect.gen(function* () {
      dispatcher.close()
      const stopNow = onInterrupt === "stop" && Exit.hasInterrupts(exit)
      if (drain === "inFlight" || stopNow) dispatcher.dropUnstarted()
      // A worker still starting finishes starting (its initializer runs whole) within the deadline, then stops as
      // an idle one does: killing it mid-start would cut its initializer short.
      if (!stopNow)
        yield* dispatcher
          .until(() => dispatcher.pending === 0 && slots.every((slot) => slot.state !== "starting"))
          .pipe(Effect.timeoutOption(shutdownTimeout))
      dispatcher.stop()
      for (const slot of slots) {
        if (slot.state === "ready" && slot.held.size === 0) slot.retire("Stopped")
        else slot.kill()
      }
      yield* dispatcher
        .until(() => slots.every((slot) => !slot.hasWorker))
        .pipe(Effect.timeoutOption(Duration.millis(3 * killGraceMs + 1000)))
    })
  )

  // The data path: a call's settings, payload and module (submission.ts), then the dispatcher's queue.
  const submission = new Submission({
    dispatcher,
    modules,
    sharesMemory: transport.sharesMemory === true,
    maxPayloadBytes: options.maxPayloadBytes,
    retries: options.retries,
    timeout: options.timeout
  })

  // The shapes of the calls (calls.ts): one task, many, streams; each through the submission.
  const { calls, startOne } = makeCalls({
    submission,
    tracing,
    size,
    monotonicMillis: dispatcher.clock.monotonicMillis
  })

  const service = Pool.of({
    ...calls,
    stats: Effect.sync(() => ({
      name,
      size,
      workers: slots.map((slot) => ({
        slot: slot.slot,
        pid: slot.pid,
        state: slot.state,
        held: slot.held.size,
        rssBytes: slot.rss ?? null
      })),
      queued: dispatcher.queue.length,
      inFlight: slots.reduce((sum, slot) => sum + slot.held.size, 0),
      restarts: supervision.restarts(),
      degraded: telemetry.degraded(),
      submitted: telemetry.submitted,
      started: telemetry.started,
      succeeded: telemetry.succeeded,
      failed: telemetry.failed.toRecord(),
      retried: telemetry.retried,
      workerStarts: telemetry.workerStarts,
      workerExits: telemetry.workerExits.toRecord(),
      runMs: summarize(telemetry.runMs),
      waitMs: summarize(telemetry.waitMs)
    })),
    events: Stream.fromPubSub(telemetry.events),
    ready: dispatcher
      .until(() => dispatcher.refusal() !== undefined || slots.every((slot) => slot.state !== "starting"))
      .pipe(
        Effect.andThen(() => {
          const refused = dispatcher.refusal()
          return refused === undefined ? Effect.void : Effect.fail(refused)
        })
      )
  })
  directStarts.set(service, startOne)
  return service
})

/** How each pool `make` built starts one call without a fiber of its own (a `Service` made by hand has none). */
const directStarts = new WeakMap<Service, StartOne>()

/**
 * Runs one task on `pool` without a fiber and calls `onExit` once with its
 * exit (synchronously when the call is refused at once). For adapters that
 * settle something other than an Effect per call, such as `PromisePool` in
 * `@troupe/node`: `apply` under `Effect.runFork` gives the same exits and
 * errors at the cost of a fiber per call. With `tracing` on the call has no
 * parent span. A `Service` not made by `make` runs `apply` on a fiber.
 *
 * Returns what cancels the call, as interrupting `apply` does: a queued task
 * is removed and never starts, a running one is interrupted in its worker;
 * the effect ends once no worker holds it, and `onExit` is not called after
 * it. It may be `undefined` when the call was refused at once.
 *
 * `onExit` should not throw. If it does, the pool still settles every other
 * call, and the error is thrown again, uncaught, once it has (as a throwing
 * event listener's error is); a refusal's `onExit` throws to the caller.
 *
 * @example
 * ```ts
 * import { Pool } from "@troupe/core"
 * import { Effect } from "effect"
 *
 * declare const pool: Pool.Service
 * declare const Square: import("@troupe/core").Task.Task<"Square", any, any, any>
 * const cancel = Pool.runCallback(pool, Square, 3, (exit) => console.log(exit)) // Exit.succeed(9)
 * // Giving up instead: resolves once the task is gone from the pool.
 * if (cancel !== undefined) Effect.runPromise(cancel())
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const runCallback = <T extends Task.Any>(
  pool: Service,
  task: T,
  payload: Task.Payload<T>,
  onExit: (exit: Exit.Exit<Task.Success<T>, Task.Error<T> | PoolCallError>) => void,
  options?: CallOptions
): (() => Effect.Effect<void>) | undefined => {
  const start = directStarts.get(pool)
  if (start !== undefined) return start(task, payload, options, "wait", undefined, onExit)
  let done = false
  const fiber = Effect.runFork(pool.apply(task, payload, options))
  fiber.addObserver((exit) => {
    // An interrupted call has no exit to report (as `start`'s cancel, after which `onExit` is not called).
    if (done) return
    done = true
    onExit(exit)
  })
  return () =>
    Effect.suspend(() => {
      done = true
      return Effect.asVoid(Fiber.interrupt(fiber))
    })
}

const summarize = (histogram: Histogram): HistogramSummary => {
  const state = histogram.state()
  return {
    count: state.count,
    p50: quantile(state, 0.5) ?? null,
    p99: quantile(state, 0.99) ?? null,
    max: state.count === 0 ? null : state.max
  }
}

/**
 * The pool as a Layer: the pool starts when the layer is built and shuts
 * down (draining, then stopping every worker) when it is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  Pool,
  RequestValidationError | ArgumentEncodeError | InvalidOption | StartedWhileBootstrapping,
  Transport
> => Layer.effect(Pool, make(options))

/**
 * Runs one task on the pool in the context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@troupe/core"
 *
 * declare const Square: import("@troupe/core").Task.Task<"Square", any, any, any>
 * const nine = Pool.apply(Square, 3)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const apply = <T extends Task.Any>(
  task: T,
  payload: Task.Payload<T>,
  options?: CallOptions
): Effect.Effect<Task.Success<T>, Task.Error<T> | PoolCallError, Pool> =>
  // One primitive per call, as `pool.apply` (`Pool.use` would add a step to reach the service, and another to
  // reach the fiber): the registration runs in the caller's run loop, so `Fiber.getCurrent` is the caller.
  Effect.callback((resume) => {
    const fiber = Fiber.getCurrent()!
    const pool = Context.get(fiber.context as Context.Context<Pool>, Pool)
    const start = directStarts.get(pool)
    if (start === undefined) return void resume(pool.apply(task, payload, options))
    return onInterrupt(start(task, payload, options, "wait", fiber, resume))
  })

/**
 * Waits until the pool in the context has no worker starting: with
 * `start: "eager"`, until every worker is ready. A service awaits it before
 * it reports itself ready.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@troupe/core"
 * import { NodePool } from "@troupe/node"
 *
 * const program = Effect.gen(function* () {
 *   yield* Pool.awaitReady // every worker is up
 * }).pipe(Effect.provide(NodePool.layer({ size: 4 })))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const awaitReady: Effect.Effect<void, RestartIntensityExceeded | PoolShuttingDown, Pool> = Pool.use(
  (pool) => pool.ready
)

/**
 * Maps a task over items on the pool in the context; results in input order.
 *
 * @since 0.1.0
 * @category accessors
 */
export const map = <T extends Task.Any>(task: T, items: Iterable<Task.Payload<T>>, options?: MapOptions) =>
  Pool.use((pool) => pool.map(task, items, options))

/**
 * Every item's `Exit`, in input order, on the pool in the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const mapSettled = <T extends Task.Any>(task: T, items: Iterable<Task.Payload<T>>, options?: MapOptions) =>
  Pool.use((pool) => pool.mapSettled(task, items, options))

/**
 * A lazy ordered stream of results, on the pool in the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const imap = <T extends Task.Any, E = never, R = never>(
  task: T,
  items: Stream.Stream<Task.Payload<T>, E, R> | Iterable<Task.Payload<T>>,
  options?: StreamOptions
) => Stream.unwrap(Pool.use((pool) => Effect.succeed(pool.imap(task, items, options))))

/**
 * A lazy stream of results in completion order, on the pool in the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const imapUnordered = <T extends Task.Any, E = never, R = never>(
  task: T,
  items: Stream.Stream<Task.Payload<T>, E, R> | Iterable<Task.Payload<T>>,
  options?: StreamOptions
) => Stream.unwrap(Pool.use((pool) => Effect.succeed(pool.imapUnordered(task, items, options))))
