/**
 * Every error that can cross the process boundary, as Schema tagged classes.
 *
 * A caller can always tell these apart: a child that could not start
 * (`SpawnError`) never looks like a task that failed (the task's own typed
 * error), a handler that threw (`RemoteDefect`), or a child that died
 * (`ProcessCrashed`). Each class is a `Schema.TaggedError`, so it can be sent
 * over the wire, matched with `Effect.catchTag`, and compared by value.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why a child could not start serving a task.
 *
 * - `ForkFailed`: the operating system refused to create the process.
 * - `ModuleNotFound`: the module that defines the task could not be imported.
 * - `TaskNotFound`: the module loaded, but defines no task of that name.
 * - `ActorNotFound`: the module loaded, but defines no actor behaviour of that name.
 * - `ModuleLoadTimeout`: importing the module did not finish within the
 *   pool's `moduleLoadTimeout` (a top-level `await` that never settles). The
 *   worker stuck in that import is replaced, and the pool does not load the
 *   module again: later calls of its tasks fail with this error at once.
 *
 * @since 0.1.0
 * @category models
 */
export const SpawnErrorReason = Schema.Literals([
  "ForkFailed",
  "ModuleNotFound",
  "TaskNotFound",
  "ActorNotFound",
  "ModuleLoadTimeout"
])

/**
 * @since 0.1.0
 * @category models
 */
export type SpawnErrorReason = typeof SpawnErrorReason.Type

/**
 * The child could not be created, or could not load the task it was asked to
 * run. Never reported as a task failure.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Process } from "@troupe/core"
 *
 * declare const child: Process.Process<number, never>
 * const value = child.result.pipe(
 *   Effect.catchTag("SpawnError", (error) => Effect.succeed(error.reason === "TaskNotFound" ? -1 : -2))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SpawnError extends Schema.TaggedError<SpawnError>()("SpawnError", {
  reason: SpawnErrorReason,
  module: Schema.String,
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * The own fields of a thrown value, as they cross the process boundary: a
 * record of JSON-safe primitives (string, finite number, boolean, null).
 *
 * @since 0.1.0
 * @category models
 */
export const DefectFields = Schema.Record(
  Schema.String,
  Schema.Union([Schema.String, Schema.Finite, Schema.Boolean, Schema.Null])
)

/**
 * The handler threw, or died with a defect, instead of returning a typed
 * failure. Carries the remote error's name, message and stack, and its own
 * fields in `fields`: the enumerable own properties whose values are
 * strings, finite numbers, booleans or `null` (a Node system error's `code`,
 * `errno`, `syscall`, `path`; an HTTP client's `status`), at most 32 of
 * them, read from the first 64 such properties, strings cut at 1,024
 * characters, keys of at most 128 characters (not `name`, `message`,
 * `stack`, `cause`, `__proto__`). A thrown object that is not an `Error`
 * (`{ code: "E_X" }`) has its fields read the same way; `fields` is absent
 * when there are none. When the `Error`'s `cause` is itself an `Error`, the
 * cause is read the same way (one level) and is this error's `cause`, a
 * `RemoteDefect` of the same task (it is not encoded with this error: a
 * `RemoteDefect` sent on again carries its own fields, not its cause).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { TroupeError } from "@troupe/core"
 *
 * declare const read: Effect.Effect<string, TroupeError.RemoteDefect>
 * // A task that ran `fs.readFileSync` of a missing file: its defect's `code` is "ENOENT".
 * const orEmpty = read.pipe(
 *   Effect.catchTag("RemoteDefect", (defect) =>
 *     defect.fields?.code === "ENOENT" ? Effect.succeed("") : Effect.fail(defect)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteDefect extends Schema.TaggedError<RemoteDefect>()("RemoteDefect", {
  task: Schema.String,
  name: Schema.String,
  message: Schema.String,
  stack: Schema.optional(Schema.String),
  fields: Schema.optional(DefectFields)
}) {}

/**
 * The child process ended before it replied: it called `process.exit`, threw
 * outside the task's Effect, ran out of memory, or was killed by a signal.
 * Exactly one of `exitCode` and `signal` is set.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessCrashed extends Schema.TaggedError<ProcessCrashed>()("ProcessCrashed", {
  task: Schema.String,
  pid: Schema.Number,
  exitCode: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  /** Why the parent killed the child, when it did (it broke the protocol: closed its channel, sent too much). */
  reason: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const how = this.signal === null ? `exit code ${this.exitCode}` : `signal ${this.signal}`
    const why = this.reason === undefined ? "" : ` (killed: ${this.reason})`
    return `child ${this.pid} running task ${this.task} ended with ${how} before it replied${why}`
  }
}

/**
 * The payload did not match the task's payload Schema. Raised on the caller's
 * side before anything is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestValidationError extends Schema.TaggedError<RequestValidationError>()("RequestValidationError", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * The payload matched its Schema but could not be serialized for the channel
 * (a cyclic value, a `BigInt` in a JSON channel, a function).
 *
 * @since 0.1.0
 * @category errors
 */
export class ArgumentEncodeError extends Schema.TaggedError<ArgumentEncodeError>()("ArgumentEncodeError", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * The handler's success or error value did not match the task's Schemas in
 * the child, so it could not be sent back. The child is not treated as
 * crashed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResultEncodeError extends Schema.TaggedError<ResultEncodeError>()("ResultEncodeError", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * The child's reply reached the parent but did not decode with the task's
 * Schemas (or was not a well-formed reply at all).
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplyValidationError extends Schema.TaggedError<ReplyValidationError>()("ReplyValidationError", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * An operation that needs a finished child was called while it still runs
 * (for example `close`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessStillRunning extends Schema.TaggedError<ProcessStillRunning>()("ProcessStillRunning", {
  pid: Schema.Number
}) {
  override get message(): string {
    return `child ${this.pid} is still running`
  }
}

/**
 * The handle was closed with `close`; no other operation is allowed on it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessClosed extends Schema.TaggedError<ProcessClosed>()("ProcessClosed", {
  pid: Schema.Number
}) {
  override get message(): string {
    return `the handle of child ${this.pid} is closed`
  }
}

/**
 * A pool worker died while it held this task (it may have been running it).
 * Only the tasks the dead worker held fail; with `retries`, the task is run
 * again on a live worker instead, and this error arrives only once the
 * retries are used up. `attempts` counts every dispatch of the task.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkerCrashed extends Schema.TaggedError<WorkerCrashed>()("WorkerCrashed", {
  task: Schema.String,
  taskId: Schema.Number,
  pid: Schema.Number,
  exitCode: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  attempts: Schema.Number,
  /**
   * Why the pool killed the worker, when it did: it broke the protocol (closed
   * its channel, sent a frame over the intake limit or one the parent cannot
   * read, could not read a frame the pool sent).
   */
  reason: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const how = this.signal === null ? `exit code ${this.exitCode}` : `signal ${this.signal}`
    const why = this.reason === undefined ? "" : `; killed: ${this.reason}`
    return `worker ${this.pid} ended with ${how} while it held task ${this.task}#${this.taskId} (attempt ${this.attempts}${why})`
  }
}

/**
 * The task did not finish within its timeout, counted from its dispatch to a
 * worker. The pool interrupted it and, if the worker did not let go in time,
 * replaced the worker.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  task: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `task ${this.task} did not finish within ${this.timeoutMs} ms`
  }
}

/**
 * A queue is full and the caller would not wait for room, or not longer
 * than it said: a pool's `offer`, or an `IpcQueue.offer` whose `timeout`
 * passed (Python's `queue.Full`). What was offered was not put.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueFull extends Schema.TaggedError<QueueFull>()("QueueFull", {
  capacity: Schema.Number
}) {
  override get message(): string {
    return `the queue is full (${this.capacity} waiting)`
  }
}

/**
 * The pool is shutting down and takes no new work.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolShuttingDown extends Schema.TaggedError<PoolShuttingDown>()("PoolShuttingDown", {}) {
  override get message(): string {
    return "the pool is shutting down and takes no new work"
  }
}

/**
 * The pool shut down before this task finished: a queued task was cancelled
 * (`phase: "queued"`), or a running one was stopped at the shutdown deadline
 * (`phase: "running"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ShutdownError extends Schema.TaggedError<ShutdownError>()("ShutdownError", {
  task: Schema.String,
  phase: Schema.Literals(["queued", "running"])
}) {
  override get message(): string {
    return `the pool shut down before task ${this.task} finished (it was ${this.phase})`
  }
}

/**
 * A worker's initializer failed, so the worker never served tasks.
 *
 * @since 0.1.0
 * @category errors
 */
export class InitializerError extends Schema.TaggedError<InitializerError>()("InitializerError", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * Workers failed more often than the restart intensity allows (more than
 * `maxRestarts` within `periodMs`), so the pool or supervisor gave up: every waiting and
 * later caller receives this error. `reason` says what failed last.
 *
 * @since 0.1.0
 * @category errors
 */
export class RestartIntensityExceeded extends Schema.TaggedError<RestartIntensityExceeded>()(
  "RestartIntensityExceeded",
  {
    restarts: Schema.Number,
    periodMs: Schema.Number,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `more than ${this.restarts - 1} restarts within ${this.periodMs} ms; gave up (last: ${this.reason})`
  }
}

/**
 * An actor's mailbox is full: `offer` was used (or the wait ran out), or the
 * actor is restarting and its stash already holds `capacity` messages. The
 * message was not delivered.
 *
 * @since 0.1.0
 * @category errors
 */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  actor: Schema.String,
  key: Schema.String,
  capacity: Schema.Number
}) {
  override get message(): string {
    return `the mailbox of ${this.actor}(${this.key}) is full (${this.capacity} messages)`
  }
}

/**
 * The actor is gone: its process died while it handled this message (and no
 * retry was left), or its supervisor stopped it for good (restart type,
 * intensity exceeded, shutdown). `reason` says which.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActorDied extends Schema.TaggedError<ActorDied>()("ActorDied", {
  actor: Schema.String,
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `actor ${this.actor}(${this.key}) died: ${this.reason}`
  }
}

/**
 * No reply came within the ask's timeout, counted from the call (mailbox wait
 * included). As with OTP's `gen_server:call`, the actor may still handle the
 * message; its late reply is dropped.
 *
 * @since 0.1.0
 * @category errors
 */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  actor: Schema.String,
  key: Schema.String,
  tag: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `${this.actor}(${this.key}) did not answer ${this.tag} within ${this.timeoutMs} ms`
  }
}

/**
 * A supervised child could not start: its process did not come up, or its
 * behaviour failed while building. At a supervisor's own start this fails the
 * start (the children already started are stopped, as in OTP).
 *
 * @since 0.1.0
 * @category errors
 */
export class ChildStartFailed extends Schema.TaggedError<ChildStartFailed>()("ChildStartFailed", {
  child: Schema.String,
  message: Schema.String
}) {}

/**
 * A supervisor's flags or a child spec are invalid, found at
 * `Supervisor.start` (or `Keyed.make`) before anything starts. `field` names
 * the bad field (`"strategy"`, `"children[1].restart"`, `"store/db.shutdown"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSupervisorSpec extends Schema.TaggedError<InvalidSupervisorSpec>()("InvalidSupervisorSpec", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid supervisor spec: ${this.field} ${this.reason}`
  }
}

/**
 * A supervisor refused an operation on one of its children
 * (`terminateChild`, `restartChild`, `deleteChild`, `startChild`), as OTP's
 * `{error, Reason}`: `notFound` (no child with that id), `running` (restart
 * or delete a child that runs or restarts), `alreadyPresent` (start a child
 * whose id is taken), `maxChildren` (start one more than the supervisor's
 * `maxChildren`, as Elixir's `DynamicSupervisor`), `stopped` (the
 * supervisor is no longer running).
 *
 * @since 0.1.0
 * @category errors
 */
export class ChildOperationFailed extends Schema.TaggedError<ChildOperationFailed>()("ChildOperationFailed", {
  child: Schema.String,
  reason: Schema.Literals(["notFound", "running", "alreadyPresent", "maxChildren", "stopped"])
}) {
  override get message(): string {
    return `child ${this.child}: ${this.reason}`
  }
}

/**
 * A supervisor stopped because of an error in its own bookkeeping (not a
 * child's end): it stopped its children, as when it gives up, and its parent
 * sees an abnormal end. `path` is the supervisor's (`""` for the root).
 *
 * @since 0.1.0
 * @category errors
 */
export class SupervisorFailed extends Schema.TaggedError<SupervisorFailed>()("SupervisorFailed", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `supervisor ${this.path || "(root)"} failed: ${this.reason}`
  }
}

/**
 * An option has a value Troupe refuses: a duration that is negative, zero
 * where a deadline must be positive, or not a number; a size that is not a
 * positive integer or is over its maximum; a backoff whose minimum exceeds
 * its maximum. Raised where the option is given: by `Pool.make`,
 * `Process.start` and `Task.make` (which throws it), or by the call that
 * carries per-call options.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOption extends Schema.TaggedError<InvalidOption>()("InvalidOption", {
  /** The option, as written by the caller (`timeout`, `shutdown.timeout`, `backoff`, ...). */
  option: Schema.String,
  /** What is wrong with its value. */
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid option ${this.option}: ${this.reason}`
  }
}

/**
 * A payload or a reply is larger than the pool's `maxPayloadBytes` (counted
 * as UTF-8 bytes of its encoded JSON), or a forked worker's reply (or call
 * to its parent) would make a frame over the pool's `maxFrameBytes` (`limit`
 * then says so). A payload is refused in the caller before anything is
 * queued; a reply is replaced in the child, and the worker stays.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  task: Schema.String,
  direction: Schema.Literals(["payload", "reply"]),
  size: Schema.Number,
  limit: Schema.Number
}) {
  override get message(): string {
    return `the ${this.direction} of task ${this.task} is ${this.size} bytes, over the limit of ${this.limit}`
  }
}

/**
 * Reading the items of a `map` (or `mapSettled`, `starmap`), or the
 * iterable given to `imap`, threw (the iterator's own error, described in
 * `message`), or the items are not iterable at all (a number, an object
 * without an iterator: `Array.from` would read them as no items). Raised
 * on the caller's side when the call runs; a `map` then sends nothing, an
 * `imap` delivers the results of the items read before.
 *
 * @since 0.1.0
 * @category errors
 */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * Two modules define a task of the same name. A child finds a handler by its
 * task's name, so such a pair could run one module's handler for the
 * other's call: `Task.make` refuses the second definition instead, at the
 * second module's import (in the parent, or in a child, where it fails the
 * call with a `SpawnError` whose message carries this one). Give tasks
 * names unique in the program, for example prefixed with their module's
 * purpose (`"images/Resize"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateTaskName extends Schema.TaggedError<DuplicateTaskName>()("DuplicateTaskName", {
  task: Schema.String,
  /** The module that defined the task first. */
  module: Schema.String,
  /** The module whose definition was refused. */
  duplicate: Schema.String
}) {
  override get message(): string {
    return `task name ${this.task} is defined by two modules: ${this.module} and ${this.duplicate}; task names must be unique in a program`
  }
}

/**
 * A child tried to start a process or a pool while it was still importing
 * its task modules: code at a module's top level, outside the
 * `import.meta.main` guard, runs again in every child that imports the
 * module, and each would start another child (a fork bomb). Python refuses
 * the same ("an attempt has been made to start a new process before the
 * current process has finished its bootstrapping phase"). Put the part of
 * the module that starts processes under `if (import.meta.main)`; tasks
 * themselves may start processes and pools.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { TroupeError } from "@troupe/core"
 *
 * declare const started: Effect.Effect<number, TroupeError.StartedWhileBootstrapping>
 * const value = started.pipe(Effect.catchTag("StartedWhileBootstrapping", (error) => Effect.die(error.message)))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StartedWhileBootstrapping extends Schema.TaggedError<StartedWhileBootstrapping>()(
  "StartedWhileBootstrapping",
  {
    /** What was being started: `"process"` or `"pool"`. */
    what: Schema.Literals(["process", "pool"]),
    /** The pid of the child that tried (a worker thread's id). */
    pid: Schema.Number
  }
) {
  override get message(): string {
    return `an attempt was made to start a new ${this.what} in child ${this.pid} before it finished importing its task modules: guard the main part of the module with \`if (import.meta.main)\` so that children importing it do not run it`
  }
}

/**
 * A call through the channel from a child to its parent (`Channel.call`, an
 * `ActorRef` or a `PoolHandle` used in a child) could not reach the service:
 * `"ServiceClosed"` when the parent no longer serves it (its scope closed, or
 * the handle came from another process tree), `"ParentGone"` when the channel
 * to the parent is closed. The call did not run, or was interrupted when its
 * service closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChannelError extends Schema.TaggedError<ChannelError>()("ChannelError", {
  service: Schema.String,
  method: Schema.String,
  reason: Schema.Literals(["ServiceClosed", "ParentGone"]),
  message: Schema.String
}) {}

/**
 * An `IpcLock` refused a call:
 *
 * - `"NotOwner"`: `release` with an acquisition this process does not hold
 *   (another process's, or one already released, or one given back because
 *   the lock was abandoned).
 * - `"WouldDeadlock"`: a lock made without `reentrant: true` was acquired
 *   again inside the body of a `withLock` of the same lock, which would wait
 *   for itself forever.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcLock } from "@troupe/core"
 *
 * declare const lock: IpcLock.IpcLock
 * declare const held: IpcLock.Held
 * const released = IpcLock.release(lock, held).pipe(
 *   Effect.catchTag("LockError", (error) => Effect.logWarning(error.reason))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LockError extends Schema.TaggedError<LockError>()("LockError", {
  reason: Schema.Literals(["NotOwner", "WouldDeadlock"]),
  message: Schema.String
}) {}

/**
 * An `IpcSemaphore` refused a call:
 *
 * - `"NotHeld"`: `release(n)` of more permits than this process holds.
 * - `"InvalidCount"`: a count below 1, or an `acquire` of more permits than
 *   the semaphore has (it would wait forever).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcSemaphore } from "@troupe/core"
 *
 * declare const semaphore: IpcSemaphore.IpcSemaphore
 * const released = IpcSemaphore.release(semaphore, 2).pipe(
 *   Effect.catchTag("SemaphoreError", (error) => Effect.logWarning(error.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SemaphoreError extends Schema.TaggedError<SemaphoreError>()("SemaphoreError", {
  reason: Schema.Literals(["NotHeld", "InvalidCount"]),
  message: Schema.String
}) {}

/**
 * An `IpcPipe` end can no longer receive or send:
 *
 * - `"PeerClosed"`: the other end was closed, or its process is gone. What it
 *   sent before is still received; then `receive` fails with this.
 * - `"Closed"`: this end was closed (`IpcPipe.close`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcPipe } from "@troupe/core"
 *
 * declare const end: IpcPipe.End<string, string>
 * // Receives until the other end is gone, then stops.
 * const last = IpcPipe.receive(end).pipe(Effect.catchTag("PipeClosed", () => Effect.succeed("<closed>")))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PipeClosed extends Schema.TaggedError<PipeClosed>()("PipeClosed", {
  reason: Schema.Literals(["PeerClosed", "Closed"]),
  message: Schema.String
}) {}

/**
 * An `IpcPipe` end was used from a second process: each end belongs to the
 * first process that used it (pass the other end to the other process).
 *
 * @since 0.1.0
 * @category errors
 */
export class PipeEndInUse extends Schema.TaggedError<PipeEndInUse>()("PipeEndInUse", {}) {
  override get message(): string {
    return "this end of the pipe belongs to another process: each end is used from one process only (the first that used it)"
  }
}

/**
 * An `IpcBarrier` is broken (Python's `BrokenBarrierError`): `abort` was
 * called, `reset` was called while parties waited, a waiting party's
 * process died or its wait was interrupted, or a party's `wait` `timeout`
 * passed before the round did. Every waiter fails with it, and so does
 * every later `wait` until `reset`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BrokenBarrier extends Schema.TaggedError<BrokenBarrier>()("BrokenBarrier", {
  reason: Schema.Literals(["Aborted", "Reset", "PartyGone", "Timeout"]),
  message: Schema.String
}) {}

/**
 * An `IpcQueue` was shut down: an `offer` (or one waiting for room) is
 * refused, and a `take` finds the queue empty and never to be filled again.
 * A `stream` of the queue ends instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<number>
 * const next = IpcQueue.take(queue).pipe(Effect.catchTag("QueueShutdown", () => Effect.succeed(-1)))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueShutdown extends Schema.TaggedError<QueueShutdown>()("QueueShutdown", {}) {
  override get message(): string {
    return "the queue was shut down"
  }
}

/**
 * `IpcQueue.taskDone` was called for more items than it may mark done: more
 * than were put and not yet done, or, in an acknowledged queue, more than
 * the calling process took and has not acknowledged (Python's
 * `ValueError: task_done() called too many times`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IpcQueue } from "@troupe/core"
 *
 * declare const queue: IpcQueue.IpcQueue<number>
 * const done = IpcQueue.taskDone(queue).pipe(Effect.catchTag("QueueTaskDoneError", (error) => Effect.logWarning(error.message)))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueTaskDoneError extends Schema.TaggedError<QueueTaskDoneError>()("QueueTaskDoneError", {
  /** How many items the call marked done. */
  count: Schema.Number,
  /** How many it could mark done. */
  outstanding: Schema.Number
}) {
  override get message(): string {
    return `taskDone for ${this.count} item(s), but only ${this.outstanding} may be marked done`
  }
}

/**
 * Everything an `ask` can fail with, besides the message's own typed error.
 *
 * @since 0.1.0
 * @category models
 */
export type AskError =
  | MailboxFull
  | ActorDied
  | AskTimeout
  | RequestValidationError
  | ArgumentEncodeError
  | ReplyValidationError
  | ResultEncodeError
  | RemoteDefect
  | SpawnError

/**
 * Everything that can go wrong between sending a task and receiving its
 * result, besides the task's own typed error.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskCallError =
  | SpawnError
  | RemoteDefect
  | ProcessCrashed
  | ResultEncodeError
  | ReplyValidationError
  | PayloadTooLarge

/**
 * Everything a pool call can fail with, besides the task's own typed error.
 *
 * @since 0.1.0
 * @category models
 */
export type PoolCallError =
  | InvalidOption
  | PayloadTooLarge
  | SpawnError
  | RemoteDefect
  | ResultEncodeError
  | ReplyValidationError
  | RequestValidationError
  | ArgumentEncodeError
  | WorkerCrashed
  | TaskTimeout
  | PoolShuttingDown
  | ShutdownError
  | InitializerError
  | RestartIntensityExceeded
