/**
 * A pool's options: validation and the small conversions the pool needs.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type { MapOptions, OfferOptions, Options, StreamOptions } from "../../Pool.ts"
import * as RestartPolicy from "../../RestartPolicy.ts"
import * as Task from "../../Task.ts"
import type { InvalidOption } from "../../TroupeError.ts"
import {
  durationMillis,
  firstInvalid,
  nonNegativeDuration,
  nonNegativeInteger,
  oneOf,
  optionsObject,
  positiveDuration,
  positiveInteger,
  positiveNumber,
  refuse,
  stringArray,
  stringRecord,
  thrown
} from "../options.ts"

/** A duration in milliseconds, or `undefined`. */
export const millis = (input: Duration.Input | undefined): number | undefined =>
  input === undefined ? undefined : durationMillis(input)

/** The most workers a pool may have (`Pool.maxPoolSize`, which documents it). */
export const maxPoolSize = 1024

/** The first invalid option, as an `InvalidOption` that names it, or `undefined`. */
export const validate = (options: Options): InvalidOption | undefined =>
  firstInvalid(
    positiveInteger("size", options.size, maxPoolSize),
    positiveInteger("concurrency", options.concurrency),
    nonNegativeInteger("prefetch", options.prefetch),
    positiveInteger("queueSize", options.queueSize),
    nonNegativeInteger("retries", options.retries),
    positiveInteger("maxTasksPerWorker", options.maxTasksPerWorker),
    positiveNumber("maxMemoryPerWorkerMb", options.maxMemoryPerWorkerMb),
    nonNegativeInteger("minSize", options.minSize),
    positiveInteger("maxPayloadBytes", options.maxPayloadBytes),
    positiveInteger("maxFrameBytes", options.maxFrameBytes),
    positiveDuration("timeout", options.timeout),
    positiveDuration("idleTimeout", options.idleTimeout),
    positiveDuration("startTimeout", options.startTimeout),
    nonNegativeDuration("killTimeout", options.killTimeout),
    nonNegativeDuration("interruptGrace", options.interruptGrace),
    positiveDuration("moduleLoadTimeout", options.moduleLoadTimeout),
    optionsObject("shutdown", options.shutdown),
    nonNegativeDuration("shutdown.timeout", options.shutdown?.timeout),
    oneOf("shutdown.drain", options.shutdown?.drain, ["all", "inFlight"]),
    oneOf("shutdown.onInterrupt", options.shutdown?.onInterrupt, ["stop", "drain"]),
    nonNegativeInteger("intensity", options.intensity),
    positiveDuration("period", options.period),
    oneOf("onExceeded", options.onExceeded, ["degrade", "giveUp"]),
    oneOf("start", options.start, ["eager", "lazy"]),
    balancerOf(options.balancer),
    tasksOf(options.tasks),
    initializerOf(options.initializer),
    stringArray("execArgv", options.execArgv),
    stringRecord("env", options.env),
    options.restartIntensity === undefined
      ? undefined
      : thrown("restartIntensity", () =>
          RestartPolicy.intensity(options.restartIntensity!.maxRestarts, options.restartIntensity!.period)
        ),
    options.backoff === undefined
      ? undefined
      : thrown("backoff", () => RestartPolicy.backoffDelay(0, options.backoff!, 0))
  )

/** `balancer`: an object with a `pick` function (see `Balancer.Balancer`). */
const balancerOf = (balancer: unknown): InvalidOption | undefined =>
  balancer === undefined ||
  (typeof balancer === "object" && balancer !== null && typeof (balancer as { pick?: unknown }).pick === "function")
    ? undefined
    : refuse("balancer", "must be a Balancer: an object with a pick function", balancer)

/** `tasks`: an array of tasks made by `Task.make` (a worker loads their modules). */
const tasksOf = (tasks: unknown): InvalidOption | undefined =>
  tasks === undefined || (Array.isArray(tasks) && tasks.every(Task.isTask))
    ? undefined
    : refuse("tasks", "must be an array of tasks made by Task.make", tasks)

/** `initializer`: a task made by `Task.make`, with its payload. */
const initializerOf = (initializer: unknown): InvalidOption | undefined =>
  initializer === undefined ||
  (typeof initializer === "object" && initializer !== null && Task.isTask((initializer as { task: unknown }).task))
    ? undefined
    : refuse("initializer", "must be { task, payload } with a task made by Task.make", initializer)

/** The first invalid per-call option, or `undefined` (`null`, from an untyped caller, is no options). */
export const validateCall = (call: (OfferOptions & MapOptions) | undefined): InvalidOption | undefined =>
  call === undefined || call === null
    ? undefined
    : firstInvalid(
        positiveInteger("chunkSize", call.chunkSize),
        nonNegativeInteger("retries", call.retries),
        positiveDuration("timeout", call.timeout),
        nonNegativeDuration("wait", call.wait),
        call.onProgress === undefined || typeof call.onProgress === "function"
          ? undefined
          : refuse("onProgress", "must be a function", call.onProgress)
      )

/** The first invalid option of a stream call (`imap`, `imapUnordered`) besides the per-call ones, or `undefined`. */
export const validateStream = (call: StreamOptions | undefined): InvalidOption | undefined =>
  call === undefined || call === null
    ? undefined
    : firstInvalid(positiveInteger("bufferSize", call.bufferSize), nonNegativeInteger("total", call.total))

/** A deadline a timer can hold: beyond about 24.8 days (or infinite) means none. */
export const timerMillis = (ms: number | undefined): number | undefined =>
  ms === undefined || !Number.isFinite(ms) || ms > 2_147_483_647 ? undefined : Math.max(0, ms)

/** The platform's parallelism, where it tells (a browser's or Node's `navigator`); at least 1. */
export const defaultSize = (): number =>
  Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1)

/**
 * What a call runs with: its crash retries, its deadline (`undefined`:
 * none), and whether a worker may hold its jobs behind others (`prefetch`):
 * not with a deadline, which runs from dispatch, nor for a call made while
 * serving a child (`ServingChild`, `wire/servingChild.ts`), which a task holding a worker
 * may be waiting for.
 */
export interface CallSettings {
  readonly retries: number
  readonly timeoutMs: number | undefined
  readonly prefetch: boolean
}

/**
 * A call's settings: the call's own, else its task's, else the pool's; or
 * the call's first invalid option.
 */
export const callSettings = (
  task: { readonly retries?: number | undefined; readonly timeout?: Duration.Input | undefined },
  call: (OfferOptions & MapOptions) | undefined,
  pool: Pick<Options, "retries" | "timeout">
): CallSettings | InvalidOption => {
  const invalid = validateCall(call)
  if (invalid !== undefined) return invalid
  const timeoutMs = timerMillis(millis(call?.timeout) ?? millis(task.timeout) ?? millis(pool.timeout))
  return { retries: call?.retries ?? task.retries ?? pool.retries ?? 0, timeoutMs, prefetch: timeoutMs === undefined }
}
