/**
 * A pool's options: validation and the small conversions the pool needs.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type { Options } from "../Pool.ts"

/** A duration in milliseconds, or `undefined`. */
export const millis = (input: Duration.Input | undefined): number | undefined =>
  input === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(input))

const positiveInteger = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n >= 1)
const nonNegativeInteger = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n >= 0)

/** The first invalid option, described, or `undefined`. Bad options are defects: they are programming errors. */
export const validate = (options: Options): string | undefined => {
  if (!positiveInteger(options.size)) return `size must be a positive integer, got ${options.size}`
  if (!positiveInteger(options.concurrency)) return `concurrency must be a positive integer, got ${options.concurrency}`
  if (!nonNegativeInteger(options.prefetch)) return `prefetch must be a non-negative integer, got ${options.prefetch}`
  if (!positiveInteger(options.queueSize)) return `queueSize must be a positive integer, got ${options.queueSize}`
  if (!nonNegativeInteger(options.retries)) return `retries must be a non-negative integer, got ${options.retries}`
  if (!positiveInteger(options.maxTasksPerWorker)) {
    return `maxTasksPerWorker must be a positive integer, got ${options.maxTasksPerWorker}`
  }
  if (options.maxMemoryPerWorkerMb !== undefined && !(options.maxMemoryPerWorkerMb > 0)) {
    return `maxMemoryPerWorkerMb must be positive, got ${options.maxMemoryPerWorkerMb}`
  }
  if (!nonNegativeInteger(options.minSize)) return `minSize must be a non-negative integer, got ${options.minSize}`
  if (!positiveInteger(options.maxPayloadBytes)) {
    return `maxPayloadBytes must be a positive integer, got ${options.maxPayloadBytes}`
  }
  return undefined
}

/** A deadline a timer can hold: beyond about 24.8 days (or infinite) means none. */
export const timerMillis = (ms: number | undefined): number | undefined =>
  ms === undefined || !Number.isFinite(ms) || ms > 2_147_483_647 ? undefined : Math.max(0, ms)

/** The platform's parallelism, where it tells (a browser's or Node's `navigator`); at least 1. */
export const defaultSize = (): number =>
  Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1)
