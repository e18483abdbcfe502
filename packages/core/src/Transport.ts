/**
 * The platform-neutral interface of one child connection.
 *
 * The core decides what to send, what a reply means and what a crash means;
 * a platform only moves frames and reports exits. `@troupe/node` provides a
 * `Transport` backed by `child_process.fork` (`NodeProcess.layer`).
 *
 * A connection belongs to the `Scope` it was spawned in: closing the scope
 * stops the child (a graceful signal, then a kill after `shutdownTimeout`),
 * kills its whole process group so that no grandchild survives, and reaps it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as ChildRunner from "./ChildRunner.ts"
import type { ExitStatus } from "./ExitStatus.ts"
import * as Contract from "./internal/wire/contract.ts"
import type { ArgumentEncodeError, SpawnError } from "./TroupeError.ts"

/**
 * What a child does with its standard output or error: share the parent's,
 * or hand it to the parent as a stream.
 *
 * @since 0.1.0
 * @category models
 */
export type Stdio = "inherit" | "pipe"

/**
 * The signals a parent may send to a child's process group.
 *
 * @since 0.1.0
 * @category models
 */
export type Signal = "SIGTERM" | "SIGKILL" | "SIGINT"

/**
 * @since 0.1.0
 * @category models
 */
export interface SpawnOptions {
  readonly stdout: Stdio
  readonly stderr: Stdio
  /** How the child serves its parent; the platform hands it to the child's `ChildRunner`. */
  readonly runner: ChildRunner.Options
  /** How long a graceful stop waits before it kills. */
  readonly shutdownTimeout: Duration.Input
  /**
   * The most the parent takes from the child in one frame, or in one
   * unfinished frame on the channel, in bytes (default `defaultMaxFrameBytes`).
   * Past it the platform reports a `Violation`; a platform that cannot see a
   * frame's size before it has received it (worker threads) does not check.
   * A platform that checks tells the child (`ChildRunner.Options.maxFrameBytes`),
   * which then refuses a reply too big for a frame rather than send it.
   */
  readonly maxFrameBytes?: number | undefined
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
}

/**
 * The default of `SpawnOptions.maxFrameBytes`: 64 MiB.
 *
 * @example
 * ```ts
 * import { Transport } from "@troupe/core"
 *
 * const limitMb = Transport.defaultMaxFrameBytes / 1024 / 1024 // 64
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxFrameBytes = 64 * 1024 * 1024

/**
 * What a platform hands `onFrame` when the child broke the channel's rules
 * rather than sending a frame: it wrote bytes that are not a message, sent
 * more than `maxFrameBytes`, or closed its channel while it still runs. No
 * frame Schema accepts it, so the core treats it as any malformed frame: the
 * child is killed, and what it held fails as a crash, with `message` as the
 * reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly _tag: "Violation"
  readonly message: string
}

/**
 * A `Violation` for `onFrame`, from a platform.
 *
 * @example
 * ```ts
 * import { Transport } from "@troupe/core"
 *
 * declare const onFrame: (frame: unknown) => void
 * onFrame(Transport.violation("it closed its channel to the parent and kept running"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const violation = (message: string): Violation => ({ _tag: "Violation", message })

/**
 * Why a value the child sent is not a frame: the platform's `Violation`
 * message, or a generic description.
 *
 * @example
 * ```ts
 * import { Transport } from "@troupe/core"
 *
 * Transport.violationReason(Transport.violation("too much")) // "too much"
 * Transport.violationReason({ garbage: true }) // "it sent a frame that is not a Troupe frame"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const violationReason = (raw: unknown): string =>
  typeof raw === "object" &&
  raw !== null &&
  (raw as Violation)._tag === "Violation" &&
  typeof (raw as Violation).message === "string"
    ? (raw as Violation).message
    : "it sent a frame that is not a Troupe frame"

/**
 * One live child.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly pid: number
  /** Sends a frame to the child. */
  readonly send: (frame: unknown) => Effect.Effect<void, ArgumentEncodeError>
  /** Sends a frame to the child outside Effect, for the hot path; throws when the frame cannot be written. */
  readonly sendUnsafe: (frame: unknown) => void
  /** Waits until the child has exited and every frame it sent was delivered. */
  readonly exited: Effect.Effect<ExitStatus>
  /** The exit status, if the child has exited. */
  readonly exitStatus: () => ExitStatus | undefined
  /** Sends a signal to the child's process group. A no-op once it has exited. */
  readonly signal: (signal: Signal) => Effect.Effect<void>
  /**
   * Tells the platform whether the parent waits on this child. An idle child
   * (`true`) must not keep the parent's event loop alive, so that a program
   * whose main part is done exits even if it never closed its pool; a busy
   * one (`false`, as every connection starts) must. Signalling a child makes
   * it busy again: the parent then waits for its exit. A platform without
   * such a notion leaves it out.
   */
  readonly idle?: ((idle: boolean) => void) | undefined
  /**
   * The task modules this child can serve, when it was started from a bundle
   * of its `runner.preload` modules; `undefined` when it can import any
   * module. A pool sends a child only tasks it can serve, and replaces idle
   * children when it meets a task from a new module.
   */
  readonly modules: ReadonlySet<string> | undefined
  /** The child's standard output when spawned with `stdout: "pipe"`; empty otherwise. */
  readonly stdout: Stream.Stream<Uint8Array>
  /** The child's standard error when spawned with `stderr: "pipe"`; empty otherwise. */
  readonly stderr: Stream.Stream<Uint8Array>
}

/**
 * Spawns children. `onFrame` receives every frame the child sends, in order,
 * and a `Violation` when the child breaks the channel's rules.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Process, Task, Transport } from "@troupe/core"
 *
 * declare const Hello: Task.Task<"Hello", any, any, any>
 * declare const transport: Transport.Transport["Service"]
 * const program = Process.run(Hello, undefined).pipe(Effect.provideService(Transport.Transport, transport))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Transport extends Context.Service<
  Transport,
  {
    readonly spawn: (
      options: SpawnOptions,
      onFrame: (frame: unknown) => void
    ) => Effect.Effect<Connection, SpawnError, Scope.Scope>
    /**
     * Whether the children share memory with the parent (worker threads):
     * `SharedMemory` values are then sent as they are, and refused
     * otherwise. Absent means no (processes).
     */
    readonly sharesMemory?: boolean | undefined
  }
>()("@troupe/core/Transport") {}

/**
 * The `ArrayBuffer`s a platform that shares memory (worker threads) should
 * move, not copy, with a frame: those of the values encoded by
 * `SharedMemory.Transferred` in it. Empty, at no cost, until such a value
 * was encoded. Each buffer is handed out once.
 *
 * @example
 * ```ts
 * import { Transport } from "@troupe/core"
 *
 * declare const port: { postMessage(frame: unknown, transfer: ReadonlyArray<ArrayBuffer>): void }
 * const send = (frame: unknown) => port.postMessage(frame, Transport.transferList(frame))
 * ```
 *
 * @since 0.1.0
 * @category platform
 */
export const transferList: (frame: unknown) => ReadonlyArray<ArrayBuffer> = Contract.transferList

/**
 * One step in stopping a child: `"Close"` asks its runner to finish what it
 * holds and exit with code 0; a signal goes to its process group.
 *
 * @since 0.1.0
 * @category models
 */
export type StopStep = "Close" | Signal

const close = { _tag: "Close" } as const

/**
 * Stops a child in steps: takes the first step, and each next one only if
 * the child has not exited within `grace` of the step before; after the
 * last step it waits for the exit. A child that has already exited is left
 * as it is. A pool stops a worker with `["Close", "SIGTERM", "SIGKILL"]`;
 * a platform stops a child whose scope closes with `["SIGTERM", "SIGKILL"]`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Transport } from "@troupe/core"
 *
 * declare const connection: Transport.Connection
 * // SIGTERM, then SIGKILL if the child is still running 2 seconds later.
 * const stop: Effect.Effect<void> = Transport.stopInSteps(connection, ["SIGTERM", "SIGKILL"], "2 seconds")
 * ```
 *
 * @since 0.1.0
 * @category platform
 */
export const stopInSteps = (
  connection: Connection,
  steps: ReadonlyArray<StopStep>,
  grace: Duration.Input
): Effect.Effect<void> => {
  const take = (step: StopStep): Effect.Effect<void> =>
    step === "Close"
      ? Effect.sync(() => {
          try {
            connection.sendUnsafe(close)
          } catch {
            // The channel is already gone; the next step still reaches the child.
          }
        })
      : connection.signal(step)
  const from = (index: number): Effect.Effect<void> =>
    Effect.andThen(
      take(steps[index]!),
      index === steps.length - 1
        ? Effect.asVoid(connection.exited)
        : unlessExitedWithin(
            connection,
            grace,
            Effect.suspend(() => from(index + 1))
          )
    )
  return Effect.suspend(() => (steps.length === 0 || connection.exitStatus() !== undefined ? Effect.void : from(0)))
}

/**
 * Waits up to `grace` for a child to exit, and runs `then` only if it has
 * not: the bound after a signal that may not end the child (a SIGTERM whose
 * finalizers hang, or that the task itself listens for). `stopInSteps`
 * takes each next step this way; a parent that learns of a SIGTERM it did
 * not send (the child's `Terminating` frame) bounds it the same way.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Transport } from "@troupe/core"
 *
 * declare const connection: Transport.Connection
 * // SIGKILL if the child is still running 2 seconds from now.
 * const bound: Effect.Effect<void> = Transport.unlessExitedWithin(connection, "2 seconds", connection.signal("SIGKILL"))
 * ```
 *
 * @since 0.1.0
 * @category platform
 */
export const unlessExitedWithin = (
  connection: Connection,
  grace: Duration.Input,
  then: Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.flatMap(Effect.timeoutOption(connection.exited, grace), (exited) =>
    exited._tag === "Some" ? Effect.void : then
  )
