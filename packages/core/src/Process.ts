/**
 * One child process running one typed task: Troupe's `multiprocessing.Process`.
 *
 * `start` forks a child, which imports the module that defines the task, runs
 * the handler with the payload, sends the outcome back and exits (code 0 when
 * the task succeeded, 1 when it failed). The returned handle joins, signals
 * and reads the typed result. The child belongs to the enclosing `Scope`:
 * leaving it terminates the child (SIGTERM, then SIGKILL after
 * `shutdownTimeout`), kills its process group and reaps it.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ExitStatus } from "./ExitStatus.ts"
import * as ProcessContext from "./internal/child/processContext.ts"
import {
  firstInvalid,
  nonEmptyString,
  nonNegativeDuration,
  notATask,
  oneOf,
  stringArray,
  stringRecord
} from "./internal/options.ts"
import * as ChildClient from "./internal/parent/childClient.ts"
import * as Codec from "./internal/wire/codec.ts"
import type { Run } from "./internal/wire/frame.ts"
import * as Task from "./Task.ts"
import { type Stdio, Transport, unlessExitedWithin } from "./Transport.ts"
import {
  type ArgumentEncodeError,
  type InvalidOption,
  ProcessClosed,
  ProcessCrashed,
  ProcessStillRunning,
  ReplyValidationError,
  type RequestValidationError,
  type SpawnError,
  StartedWhileBootstrapping,
  type TaskCallError
} from "./TroupeError.ts"

/**
 * A handle on a started child.
 *
 * @since 0.1.0
 * @category models
 */
export interface Process<A, E> {
  readonly pid: number
  /** Waits for the child to exit and returns how it ended. Never kills. */
  readonly join: Effect.Effect<ExitStatus, ProcessClosed>
  /**
   * Waits at most `timeout`; `None` if the child is still running then (`0` polls). Never kills. A `timeout`
   * that is not a duration of zero or more is an `InvalidOption`.
   */
  readonly joinTimeout: (
    timeout: Duration.Input
  ) => Effect.Effect<Option.Option<ExitStatus>, ProcessClosed | InvalidOption>
  readonly isAlive: Effect.Effect<boolean, ProcessClosed>
  /**
   * Sends SIGTERM to the child's process group: the task is interrupted in the child (its finalizers run), then the
   * child ends by the signal. A child still running `shutdownTimeout` later (a task that does not yield, a handler
   * that ignores the signal) gets SIGKILL, so `terminate` then `join` always ends.
   */
  readonly terminate: Effect.Effect<void, ProcessClosed>
  /** Sends SIGKILL to the child's process group. */
  readonly kill: Effect.Effect<void, ProcessClosed>
  /** Sends SIGINT to the child's process group. */
  readonly interrupt: Effect.Effect<void, ProcessClosed>
  /**
   * Waits for the task's outcome: its decoded success, its own typed error,
   * or a boundary error (`SpawnError`, `RemoteDefect`, `ProcessCrashed`, ...).
   */
  readonly result: Effect.Effect<A, E | TaskCallError | ArgumentEncodeError | ProcessClosed>
  /**
   * Releases the handle. Fails with `ProcessStillRunning` while the child
   * runs; afterwards every other operation fails with `ProcessClosed`.
   * Closing twice is harmless.
   */
  readonly close: Effect.Effect<void, ProcessStillRunning>
  /** Standard output, when started with `stdout: "pipe"`. */
  readonly stdout: Stream.Stream<Uint8Array>
  /** Standard error, when started with `stderr: "pipe"`. */
  readonly stderr: Stream.Stream<Uint8Array>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  /** The child's name, as `Process.current` reads it in the child and `activeChildren` in the parent (default `Process-N`). */
  readonly name?: string | undefined
  /** The module the child imports to find the task; defaults to the module that defined it. */
  readonly module?: string | undefined
  /** `"inherit"` (default) shares the parent's stdout; `"pipe"` exposes it as `stdout`. */
  readonly stdout?: Stdio | undefined
  /** `"inherit"` (default) shares the parent's stderr; `"pipe"` exposes it as `stderr`. */
  readonly stderr?: Stdio | undefined
  /** The child's environment; defaults to the parent's. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Runtime flags for the child (for example `--max-old-space-size=64`). */
  readonly execArgv?: ReadonlyArray<string> | undefined
  /** How long leaving the scope waits after SIGTERM before SIGKILL (zero or more; default 2 seconds). */
  readonly shutdownTimeout?: Duration.Input | undefined
}

const defaultShutdownTimeout = Duration.seconds(2)

/**
 * Starts a child process that runs `task` with `payload`.
 *
 * **When to use**
 *
 * Use for one long or isolated piece of work, as with Python's
 * `multiprocessing.Process`. For many small tasks use a pool.
 *
 * **Details**
 *
 * The payload is encoded with the task's Schema before anything is forked, so
 * a bad payload fails here with `RequestValidationError` (`ArgumentEncodeError`
 * when it breaks the serialization contract: see docs/ipc.md). The child runs in its
 * own process group, exits by itself within moments if the parent dies
 * (even by SIGKILL), and is stopped and reaped when the scope closes.
 *
 * In a child that is still importing its task modules (code at a module's
 * top level, outside its `import.meta.main` guard), `start` fails at once
 * with `StartedWhileBootstrapping` instead of forking: every child would
 * import the module again and start another.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Process, Task } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 *
 * const Square = Task.make("Square", {
 *   payload: Schema.Number,
 *   success: Schema.Number,
 *   handler: (n) => Effect.succeed(n * n)
 * })
 *
 * if (import.meta.main) {
 *   const program = Effect.gen(function*() {
 *     const child = yield* Process.start(Square, 7)
 *     const value = yield* child.result // 49
 *     const exit = yield* child.join // { code: 0, signal: null }
 *     console.log(value, exit.code)
 *   }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
 *   Effect.runPromise(program)
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = <T extends Task.Any>(
  task: T,
  payload: Task.Payload<T>,
  options?: StartOptions
): Effect.Effect<
  Process<Task.Success<T>, Task.Error<T>>,
  RequestValidationError | ArgumentEncodeError | InvalidOption | SpawnError | StartedWhileBootstrapping,
  Transport | Scope.Scope
> => Effect.map(startWithOutcome(task, payload, options), ([child]) => child)

const startWithOutcome = Effect.fnUntraced(function* <T extends Task.Any>(
  task: T,
  payload: Task.Payload<T>,
  options?: StartOptions
): Effect.fn.Return<
  readonly [
    Process<Task.Success<T>, Task.Error<T>>,
    Effect.Effect<Task.Success<T>, Task.Error<T> | TaskCallError | ArgumentEncodeError>
  ],
  RequestValidationError | ArgumentEncodeError | InvalidOption | SpawnError | StartedWhileBootstrapping,
  Transport | Scope.Scope
> {
  type A = Task.Success<T>
  type E = Task.Error<T> | TaskCallError | ArgumentEncodeError
  if (ProcessContext.refusesStart(yield* Effect.withFiber(Effect.succeed))) {
    return yield* new StartedWhileBootstrapping({ what: "process", pid: ProcessContext.identity().pid })
  }
  if (!Task.isTask(task)) return yield* Effect.die(notATask("Process.start", task))
  const invalid = firstInvalid(
    options?.name === undefined ? undefined : nonEmptyString("name", options.name),
    nonNegativeDuration("shutdownTimeout", options?.shutdownTimeout),
    oneOf("stdout", options?.stdout, ["inherit", "pipe"]),
    oneOf("stderr", options?.stderr, ["inherit", "pipe"]),
    stringArray("execArgv", options?.execArgv),
    stringRecord("env", options?.env)
  )
  if (invalid !== undefined) return yield* invalid
  const transport = yield* Transport
  const encoded = yield* Codec.encodePayload(task, payload, transport.sharesMemory === true)
  let violation: string | undefined
  const run: Run = { _tag: "Run", id: 0, module: options?.module ?? task.module, task: task.name, payload: encoded }
  const shutdownTimeout = options?.shutdownTimeout ?? defaultShutdownTimeout
  const name = options?.name ?? ProcessContext.nextProcessName()
  const outcome = Deferred.makeUnsafe<A, E>()
  /**
   * Set by `Terminating` (the child got a SIGTERM): whoever sent it, the child gets `shutdownTimeout` to end, then
   * SIGKILL; a run it then interrupted replies `Interrupted`, and its outcome is the exit by the signal that follows
   * (`ProcessCrashed`), as for a child that died of it at once.
   */
  const signalled = Deferred.makeUnsafe<void>()

  const onFrame = (frame: ChildClient.OwnFrame): void => {
    switch (frame._tag) {
      case "Reply":
        if (frame.reply._tag === "Interrupted" && Deferred.isDoneUnsafe(signalled)) return
        Deferred.doneUnsafe(outcome, Codec.decodeReply<A, E>(task, run, frame.reply))
        return
      case "Terminating":
        Deferred.doneUnsafe(signalled, Exit.void)
        return
      case "Started":
        return
      case "Replies":
      case "Done":
      case "ProtocolError":
      case "Stopped":
        Deferred.doneUnsafe(
          outcome,
          Exit.fail(new ReplyValidationError({ task: task.name, message: `unexpected ${frame._tag} frame` }))
        )
    }
  }

  // Registered before the child's own finalizer, so it runs after the child is reaped: a result read after the
  // scope closed is the exit's, as it would have been had the scope's fiber watching the exit seen it.
  let reaped: (() => ProcessCrashed | undefined) | undefined
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      const crashed = reaped?.()
      return crashed === undefined ? Effect.void : Deferred.fail(outcome, crashed)
    })
  )
  // A child that broke the protocol (closed its channel, sent too much or garbage) may never reply: its client
  // kills it, and its result is a `ProcessCrashed` that says why.
  const client = yield* ChildClient.spawn(transport, {
    spawn: {
      stdout: options?.stdout ?? "inherit",
      stderr: options?.stderr ?? "inherit",
      runner: {
        once: true,
        concurrency: 1,
        reportRss: false,
        preload: [run.module],
        bundled: false,
        identity: { name }
      },
      shutdownTimeout,
      env: options?.env,
      execArgv: options?.execArgv
    },
    child: { name, kind: "process", pool: undefined },
    onFrame,
    onViolation: (reason) => {
      violation ??= reason
    }
  })
  const connection = client.connection
  const pid = client.pid
  const scope = yield* Effect.scope
  // SIGTERM lets the task's finalizers run; a child that has not ended after the grace period gets SIGKILL.
  const killLate = unlessExitedWithin(connection, shutdownTimeout, connection.signal("SIGKILL"))
  const terminate = connection.signal("SIGTERM").pipe(Effect.andThen(Effect.forkIn(killLate, scope)), Effect.asVoid)
  // A SIGTERM from outside (`kill -TERM <pid>`) is bounded the same way: a release that hangs, or a task's own
  // SIGTERM listener that keeps the child alive, would leave `join` and `result` waiting for ever.
  yield* Deferred.await(signalled).pipe(Effect.andThen(killLate), Effect.forkScoped)

  yield* client.ready.pipe(
    Effect.andThen(connection.send(run)),
    Effect.catch((error) => Deferred.fail(outcome, error).pipe(Effect.andThen(connection.signal("SIGKILL")))),
    Effect.forkScoped
  )
  const crashedWith = (status: ExitStatus) =>
    new ProcessCrashed({
      task: task.name,
      pid,
      exitCode: status.code,
      signal: status.signal,
      ...(violation === undefined ? {} : { reason: violation })
    })
  reaped = () => {
    const status = connection.exitStatus()
    return status === undefined ? undefined : crashedWith(status)
  }
  yield* connection.exited.pipe(
    Effect.flatMap((status) => Deferred.fail(outcome, crashedWith(status))),
    Effect.forkScoped
  )

  let closed = false
  const open = <X, Y>(effect: Effect.Effect<X, Y>): Effect.Effect<X, Y | ProcessClosed> =>
    Effect.suspend(
      (): Effect.Effect<X, Y | ProcessClosed> =>
        closed ? Effect.fail(new ProcessClosed({ pid: connection.pid })) : effect
    )

  const child: Process<A, Task.Error<T>> = {
    pid: connection.pid,
    join: open(connection.exited),
    joinTimeout: (timeout) =>
      Effect.suspend((): Effect.Effect<Option.Option<ExitStatus>, ProcessClosed | InvalidOption> => {
        const invalid = nonNegativeDuration("timeout", timeout)
        return invalid === undefined ? open(Effect.timeoutOption(connection.exited, timeout)) : Effect.fail(invalid)
      }),
    isAlive: open(Effect.sync(() => connection.exitStatus() === undefined)),
    terminate: open(terminate),
    kill: open(connection.signal("SIGKILL")),
    interrupt: open(connection.signal("SIGINT")),
    result: open(Deferred.await(outcome)),
    close: Effect.suspend(() => {
      if (closed) return Effect.void
      if (connection.exitStatus() === undefined) return Effect.fail(new ProcessStillRunning({ pid: connection.pid }))
      closed = true
      return Effect.void
    }),
    stdout: connection.stdout,
    stderr: connection.stderr
  }
  return [child, Deferred.await(outcome)] as const
})

/**
 * Starts a child, waits for its result and reaps it: `start` and `result` in
 * one scoped call.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Process, Task } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 *
 * const Double = Task.make("Double", { payload: Schema.Number, success: Schema.Number, handler: (n) => Effect.succeed(2 * n) })
 *
 * if (import.meta.main) {
 *   Effect.runPromise(Process.run(Double, 21).pipe(Effect.provide(NodeProcess.layer))).then(console.log) // 42
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <T extends Task.Any>(
  task: T,
  payload: Task.Payload<T>,
  options?: StartOptions
): Effect.Effect<
  Task.Success<T>,
  | Task.Error<T>
  | TaskCallError
  | ArgumentEncodeError
  | RequestValidationError
  | InvalidOption
  | SpawnError
  | StartedWhileBootstrapping,
  Transport
> => Effect.scoped(Effect.flatMap(startWithOutcome(task, payload, options), ([, outcome]) => outcome))

/**
 * What a process knows about itself, as `Process.current` reads it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Current {
  /**
   * `"main"` in the program that no Troupe parent started; in a child, the
   * name its parent gave it: a `Process` child's `name` option (default
   * `Process-N`), a pool worker's `<pool>-<index>`, an actor host `child-<pid>`.
   */
  readonly name: string
  /** The process id; in a worker thread, the thread's id (as the parent's `pid` for it). */
  readonly pid: number
  /** The parent's process id (for a worker thread, its process's); `undefined` where the platform does not say. */
  readonly parentPid: number | undefined
  /** Whether a Troupe parent started this process. */
  readonly isChild: boolean
  /** In a pool worker: the pool's `name` and the worker's index in it (stable across the worker's replacements). */
  readonly pool: { readonly name: string; readonly worker: number } | undefined
  /**
   * Inside a task (its handler, and the fibers the handler forks while it
   * runs): the task's name, its id (the one the pool's events and errors
   * carry, as `taskId`) and its attempt number, 1 for the first run and one
   * more for each retry after a worker died under it.
   */
  readonly task: { readonly name: string; readonly id: number; readonly attempt: number } | undefined
}

/**
 * The current process, as Python's `multiprocessing.current_process()`, with
 * the running task when read inside one: name, pid, parent pid, the pool and
 * worker index in a pool worker, and the task's name, id and attempt.
 *
 * **Details**
 *
 * Reading it is cheap and costs nothing to a task that does not: the runner
 * looks the task up only when asked, from the reading fiber.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Process, Task } from "@troupe/core"
 *
 * export const WhoAmI = Task.make("WhoAmI", {
 *   payload: Schema.Void,
 *   success: Schema.String,
 *   handler: () =>
 *     Effect.map(Process.current, (me) =>
 *       `${me.name} (pid ${me.pid}, worker ${me.pool?.worker}) runs ${me.task?.name}, attempt ${me.task?.attempt}`
 *     )
 * })
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export const current: Effect.Effect<Current> = Effect.withFiber((fiber) => {
  const me = ProcessContext.identity()
  const run = ProcessContext.runOf(fiber)
  return Effect.succeed({
    name: me.name,
    pid: me.pid,
    parentPid: me.parentPid,
    isChild: ProcessContext.isChild(),
    pool: me.pool,
    task: run === undefined ? undefined : { name: run.task, id: run.id, attempt: run.attempt }
  })
})

/**
 * One live child of this process, as `activeChildren` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActiveChild {
  readonly pid: number
  readonly name: string
  /** `"process"`: started by `Process.start`/`run`; `"worker"`: a pool's; `"actor"`: an actor's host. */
  readonly kind: "process" | "worker" | "actor"
  /** For a pool worker: the pool's name and the worker's index. */
  readonly pool: { readonly name: string; readonly worker: number } | undefined
}

/**
 * The children of this process that are alive now, across `Process`
 * handles, pools and actor hosts, as Python's
 * `multiprocessing.active_children()`. A child that has exited is not
 * listed, even before its scope closes and reaps it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Process } from "@troupe/core"
 *
 * const report = Effect.flatMap(Process.activeChildren, (children) =>
 *   Effect.log(children.map((child) => `${child.name} (${child.kind}, pid ${child.pid})`).join(", "))
 * )
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export const activeChildren: Effect.Effect<ReadonlyArray<ActiveChild>> = Effect.sync(() =>
  ProcessContext.liveChildren().map(({ kind, name, pid, pool }) => ({ pid, name, kind, pool }))
)
