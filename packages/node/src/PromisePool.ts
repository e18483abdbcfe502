/**
 * Troupe's pool for programs that do not use Effect: an object with
 * `run(task, payload)`, `offer`, `map(task, items)` and `close()`, each returning a
 * Promise (the shape piscina users know).
 *
 * It is the same pool as `NodePool.layer` (same workers, queue, balancer,
 * supervision and errors), built once in a scope of its own. `run` starts
 * its task with no fiber at all (`Pool.runCallback`) and settles its Promise
 * from the call's exit; `map` and `stats` run on a fiber forked straight from
 * the pool's context (`Effect.runForkWith`). None pays `ManagedRuntime.runPromise`
 * per call (a registry entry and a scope finalizer for every fiber, so that
 * `dispose` can interrupt it). A
 * failed call rejects with its typed error itself (`WorkerCrashed`,
 * `TaskTimeout`, the task's own error, ...), each an `Error` with a `_tag`;
 * a `RemoteDefect` also carries its `fields` as its own properties
 * (`err.code`, as piscina users read it).
 *
 * Tasks are still defined with `Task.make` at the top level of a module
 * (workers import that module to find them).
 *
 * @since 0.1.0
 */
import * as Pool from "@troupe/core/Pool"
import type * as Task from "@troupe/core/Task"
import { InvalidOption, RemoteDefect } from "@troupe/core/TroupeError"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as NodePool from "./NodePool.ts"

/**
 * The pool's operations as Promises.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromisePool extends AsyncDisposable {
  /**
   * Runs one task and resolves with its result; rejects with the task's
   * error or a pool error. `signal` cancels it (see `Cancellable`).
   */
  readonly run: <T extends Task.Any>(
    task: T,
    payload: Task.Payload<T>,
    options?: Pool.CallOptions & Cancellable
  ) => Promise<Task.Success<T>>
  /**
   * `run`, but rejects with `QueueFull` when the pool's queue (`queueSize`)
   * is full, at once or after waiting `wait` for room, where `run` waits
   * (piscina's `maxQueue`). `signal` cancels it.
   */
  readonly offer: <T extends Task.Any>(
    task: T,
    payload: Task.Payload<T>,
    options?: Pool.OfferOptions & Cancellable
  ) => Promise<Task.Success<T>>
  /**
   * Runs the task on every item; resolves with the results in input order,
   * or rejects with the first failure. `signal` cancels every item not done.
   */
  readonly map: <T extends Task.Any>(
    task: T,
    items: Iterable<Task.Payload<T>>,
    options?: Pool.MapOptions & Cancellable
  ) => Promise<Array<Task.Success<T>>>
  /** The pool's workers, queue and counters now. */
  readonly stats: () => Promise<Pool.Stats>
  /**
   * Refuses new work, drains what was submitted (up to the pool's drain
   * deadline), stops every worker and resolves once they are gone. Calling
   * it again returns the same Promise.
   */
  readonly close: () => Promise<void>
  /**
   * `close`, for `await using pool = await PromisePool.make(...)`: the pool
   * closes (drained, its workers gone) when the block is left, by a return
   * or a throw.
   */
  readonly [Symbol.asyncDispose]: () => Promise<void>
  /** The Effect pool underneath, for code that mixes both styles. */
  readonly pool: Pool.Service
}

/**
 * A call's `signal`, as `fetch` and piscina take one. Aborting it cancels the
 * call as interrupting it does in Effect: a queued task is removed and never
 * starts; a running one is interrupted in its worker (its finalizers run;
 * one that does not let go within `interruptGrace` has its worker stopped).
 * The call then rejects with `signal.reason`, once no worker holds its
 * tasks, so nothing it started runs on after the rejection. A signal already
 * aborted rejects at once and submits nothing; a call that has settled is
 * not changed by a later abort.
 *
 * @example
 * ```ts
 * import { PromisePool } from "@troupe/node"
 * import { Square } from "./tasks.ts"
 *
 * const pool = await PromisePool.make({ size: 2 })
 * const result = await pool.run(Square, 3, { signal: AbortSignal.timeout(1000) })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Cancellable {
  readonly signal?: AbortSignal | null | undefined
}

/** Whether `signal` can be listened to as an `AbortSignal` is (one from another realm or a polyfill too). */
const isAbortSignal = (signal: unknown): signal is AbortSignal =>
  typeof signal === "object" &&
  signal !== null &&
  typeof (signal as AbortSignal).aborted === "boolean" &&
  typeof (signal as AbortSignal).addEventListener === "function" &&
  typeof (signal as AbortSignal).removeEventListener === "function"

/** Copies a `RemoteDefect`'s `fields` onto it as its own enumerable properties, but for names it already has. */
const withOwnFields = (defect: RemoteDefect): void => {
  const fields = defect.fields
  if (fields === undefined) return
  for (const key of Object.keys(fields)) {
    if (key in defect) continue
    Object.defineProperty(defect, key, { value: fields[key], enumerable: true, writable: true, configurable: true })
  }
}

/**
 * What a failed call rejects with: its error, where a `RemoteDefect` (and
 * its `cause`, when that is one) also has its `fields` as its own
 * properties, so that `err.code` reads as it would have in the worker (a
 * rejected piscina `run` gives the thrown error itself). A field named as
 * one of the error's own properties (`name`, `task`, ...) stays in `fields`.
 */
const rejection = (error: unknown): unknown => {
  if (error instanceof RemoteDefect) {
    withOwnFields(error)
    if (error.cause instanceof RemoteDefect) withOwnFields(error.cause)
  }
  return error
}

/**
 * Starts a pool and resolves once it accepts work (with the default
 * `start: "eager"`, its workers are starting; `run` waits for them). Takes
 * `NodePool.layer`'s options; rejects with `InvalidOption` or
 * `RequestValidationError` for bad options.
 *
 * @example
 * ```ts
 * import { Task } from "@troupe/core"
 * import { PromisePool } from "@troupe/node"
 * import { Effect, Schema } from "effect"
 *
 * export const Square = Task.make("Square", {
 *   payload: Schema.Number,
 *   success: Schema.Number,
 *   handler: (n) => Effect.succeed(n * n)
 * })
 *
 * if (import.meta.main) {
 *   const pool = await PromisePool.make({ size: 2 })
 *   console.log(await pool.run(Square, 3)) // 9
 *   console.log(await pool.map(Square, [1, 2, 3])) // [1, 4, 9]
 *   await pool.close()
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = async (options: NodePool.Options = {}): Promise<PromisePool> => {
  const scope = Scope.makeUnsafe()
  const built = await Effect.runPromiseExit(Layer.buildWithScope(NodePool.layer(options), scope))
  if (Exit.isFailure(built)) {
    await Effect.runPromise(Scope.close(scope, built))
    throw Cause.squash(built.cause)
  }
  const pool = Context.get(built.value, Pool.Pool)
  const fork = Effect.runForkWith(built.value)
  const settle =
    <A>(resolve: (value: A) => void, reject: (error: unknown) => void) =>
    (exit: Exit.Exit<A, unknown>): void => {
      if (exit._tag === "Success") resolve(exit.value)
      else reject(rejection(Cause.squash(exit.cause)))
    }
  /**
   * A call under a `signal` (see `Cancellable`; `undefined` or `null`: none):
   * `start` submits it and returns what cancels it; an abort runs that, then
   * rejects with the signal's reason. Something else than an `AbortSignal`
   * rejects with `InvalidOption` before anything is submitted.
   */
  const cancellable = <A>(
    signal: unknown,
    start: (settle: (exit: Exit.Exit<A, unknown>) => void) => (() => Effect.Effect<void>) | undefined
  ): Promise<A> =>
    new Promise((resolve, reject) => {
      if (signal === undefined || signal === null) return void start(settle(resolve, reject))
      if (!isAbortSignal(signal)) {
        return reject(new InvalidOption({ option: "signal", reason: `must be an AbortSignal, got ${typeof signal}` }))
      }
      if (signal.aborted) return reject(signal.reason)
      // Settles once: by the call's exit, or by the abort once the call's cancel has ended.
      const settled = settle(resolve, reject)
      let done = false
      let cancel: (() => Effect.Effect<void>) | undefined
      const onAbort = () => {
        if (cancel === undefined) return
        Effect.runFork(cancel()).addObserver(() => reject(signal.reason))
      }
      const started = start((exit) => {
        done = true
        signal.removeEventListener("abort", onAbort)
        cancel = undefined
        settled(exit)
      })
      // A call may settle inside `start` (refused, or an empty map): then nothing is left to cancel, and no
      // listener may stay on a long-lived signal, holding the call.
      if (done || started === undefined) return
      cancel = started
      signal.addEventListener("abort", onAbort, { once: true })
    })
  /** An Effect call on a fiber of the pool's context; interrupting the fiber cancels it. */
  const forked =
    <A, E>(effect: Effect.Effect<A, E>) =>
    (settleWith: (exit: Exit.Exit<A, unknown>) => void): (() => Effect.Effect<void>) => {
      let interrupted = false
      const fiber = fork(effect)
      fiber.addObserver((exit) => {
        if (!interrupted) settleWith(exit)
      })
      return () =>
        Effect.suspend(() => {
          interrupted = true
          return Effect.asVoid(Fiber.interrupt(fiber))
        })
    }
  const promise = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => cancellable(undefined, forked(effect))
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= Effect.runPromise(Scope.close(scope, Exit.void))
    return closed
  }
  return {
    // One task: no fiber at all (`Pool.runCallback`); the pool's own checks, queue and errors as `apply`.
    run: (task, payload, call) =>
      call?.signal === undefined
        ? new Promise((resolve, reject) => Pool.runCallback(pool, task, payload, settle(resolve, reject), call))
        : cancellable(call.signal, (settleWith) => Pool.runCallback(pool, task, payload, settleWith, call)),
    offer: (task, payload, call) => cancellable(call?.signal, forked(pool.offer(task, payload, call))),
    map: (task, items, call) => cancellable(call?.signal, forked(pool.map(task, items, call))),
    stats: () => promise(pool.stats),
    close,
    [Symbol.asyncDispose]: close,
    pool
  }
}
