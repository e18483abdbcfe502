/**
 * The parent's side of one child connection, as pool workers, actor hosts
 * and `Process` children share it.
 *
 * `spawn` starts the child through the `Transport` and lists it among this
 * process's live children (`Process.activeChildren`). The client reads every
 * frame the child sends: it settles `ready` on `Ready`, forwards `Logs` to
 * the parent's logger, serves the child's calls to the parent's services
 * (`Call`, `CallInterrupt`, through `callServer.ts`), and hands every other
 * frame to its owner. A child that breaks the protocol (what it sent is not
 * a frame, or is a call under the id of one of its calls still running)
 * cannot be trusted to reply: the owner hears why, and the child is killed.
 * `awaitStart` races `Ready` with the child's exit and a start timeout. Each
 * owner keeps only what is its own: a slot its jobs, an actor host its actor
 * frames, `Process` its public handle.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Transport from "../../Transport.ts"
import { violationReason } from "../../Transport.ts"
import { SpawnError } from "../../TroupeError.ts"
import * as ProcessContext from "../child/processContext.ts"
import { emitLogs } from "../telemetry.ts"
import { type ChildFrame, childFrameOf } from "../wire/frame.ts"
import * as CallServer from "./callServer.ts"

/** The frames the client hands to its owner: all but those it serves itself. */
export type OwnFrame = Exclude<ChildFrame, { readonly _tag: "Ready" | "Logs" | "Call" | "CallInterrupt" }>

export interface Options {
  readonly spawn: Transport.SpawnOptions
  /** How `Process.activeChildren` lists the child; `name` defaults to `child-<pid>`. */
  readonly child: Pick<ProcessContext.LiveChild, "kind" | "pool"> & { readonly name?: string | undefined }
  /** Where the child's log lines go (default: the spawning fiber's context), with these annotations and its pid. */
  readonly logs?:
    | { readonly context?: Context.Context<never> | undefined; readonly annotations?: Record<string, unknown> }
    | undefined
  /** Receives every frame the client does not serve itself, in order. */
  readonly onFrame: (frame: OwnFrame) => void
  /** The child broke the protocol, for `reason`; the client kills it right after. */
  readonly onViolation?: ((reason: string) => void) | undefined
}

export interface ChildClient {
  readonly connection: Transport.Connection
  readonly pid: number
  /** Completes when the child says it is ready. */
  readonly ready: Effect.Effect<void>
  /**
   * Waits until the child is ready; fails with a `SpawnError` (reason
   * `ForkFailed`, naming `what` the child is and `module`) when it exits
   * first or `timeout` passes.
   */
  readonly awaitStart: (timeout: Duration.Input, what: string, module: string) => Effect.Effect<void, SpawnError>
  /** Kills the child now (SIGKILL to its group), unless it has exited. */
  readonly kill: () => void
}

export const spawn = Effect.fnUntraced(function* (
  transport: Transport.Transport["Service"],
  options: Options
): Effect.fn.Return<ChildClient, SpawnError, Scope.Scope> {
  const { onFrame, onViolation } = options
  const logContext = options.logs?.context ?? (yield* Effect.context<never>())
  const ready = Deferred.makeUnsafe<void>()
  let connection: Transport.Connection | undefined
  let calls: CallServer.CallServer | undefined
  let logAnnotations: Record<string, unknown> = {}

  const kill = () => {
    if (connection !== undefined && connection.exitStatus() === undefined) {
      Effect.runFork(connection.signal("SIGKILL"))
    }
  }

  const receive = (raw: unknown): void => {
    const value = childFrameOf(raw)
    if (value === undefined) {
      onViolation?.(violationReason(raw))
      kill()
      return
    }
    switch (value._tag) {
      case "Ready":
        Deferred.doneUnsafe(ready, Exit.void)
        return
      case "Logs":
        emitLogs(logContext, value.entries, logAnnotations)
        return
      case "Call":
      case "CallInterrupt":
        if (connection !== undefined) {
          calls ??= CallServer.make(connection)
          const violation = calls.onFrame(value)
          if (violation !== undefined) {
            onViolation?.(violation)
            kill()
          }
        }
        return
      default:
        onFrame(value)
    }
  }

  const spawned = yield* transport.spawn(options.spawn, receive)
  connection = spawned
  // Whoever learns of the exit through the client stops the child's calls first: the exit is then never seen
  // (a task failed `WorkerCrashed`, say) while a call of the dead child is still served.
  const exited = Effect.tap(spawned.exited, () => Effect.sync(() => calls?.childExited()))
  const pid = spawned.pid
  logAnnotations = { ...options.logs?.annotations, "troupe.pid": pid }
  const forget = ProcessContext.addChild({
    pid,
    name: options.child.name ?? `child-${pid}`,
    kind: options.child.kind,
    pool: options.child.pool,
    alive: () => spawned.exitStatus() === undefined
  })
  yield* Effect.addFinalizer(() => Effect.sync(forget))

  return {
    connection: { ...spawned, exited },
    pid,
    ready: Deferred.await(ready),
    kill,
    awaitStart: (timeout, what, module) =>
      Deferred.await(ready).pipe(
        Effect.as(true),
        Effect.raceFirst(spawned.exited.pipe(Effect.as(false))),
        Effect.timeoutOption(timeout),
        Effect.flatMap((started) => {
          if (started._tag === "Some" && started.value) return Effect.void
          const status = spawned.exitStatus()
          return Effect.fail(
            new SpawnError({
              reason: "ForkFailed",
              module,
              task: "",
              message:
                status === undefined
                  ? `the ${what} did not become ready in time`
                  : `the ${what} exited (${status}) while starting`
            })
          )
        })
      )
  }
})
