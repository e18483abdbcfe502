/**
 * Forked Node.js child processes as Troupe's `Transport`.
 *
 * Provide `NodeProcess.layer` to run `Process` (and, later, pools) on
 * `child_process.fork`. Each child:
 *
 * - runs Troupe's child entry on the same Node binary, with JSON IPC;
 * - leads its own process group, so a signal from the parent reaches any
 *   grandchildren it spawned;
 * - dies with its group when its parent dies, even by SIGKILL and even while
 *   the child spins in a synchronous loop: the parent's reaper (one tiny
 *   shell per parent, reaper.ts) reads end of file on a pipe the moment the
 *   parent is gone and SIGKILLs every registered group; the IPC channel's
 *   `disconnect` is the child's own guard;
 * - is stopped and reaped when the spawning scope closes: SIGTERM to the
 *   group, SIGKILL after the shutdown timeout, and a final SIGKILL to the
 *   group so that no grandchild outlives the scope;
 * - is SIGKILLed with its group when this process gets a SIGINT or SIGTERM
 *   that nothing else handles (the signal then ends this process as usual),
 *   or a second one while a handled first one shuts the program down
 *   (`NodeRuntime.runMain`): see `docs/pool.md`, "Shutdown".
 *
 * @since 0.1.0
 */

import { type ChildProcess, fork } from "node:child_process"
import * as ExitStatus from "@troupe/core/ExitStatus"
import type * as T from "@troupe/core/Transport"
import * as Transport from "@troupe/core/Transport"
import * as TroupeError from "@troupe/core/TroupeError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { distrust } from "./internal/bundle.ts"
import { entryPoints } from "./internal/entryPoints.ts"
import { parentArgument } from "./internal/parentCheck.ts"
import { signalGroup } from "./internal/processGroup.ts"
import * as Reaper from "./internal/reaper.ts"
import { childArguments } from "./internal/runnerOptions.ts"
import { closedChannel, onChannelClosed, sendEffect } from "./internal/send.ts"
import { forcedToStop, track } from "./internal/signals.ts"
import * as NodeTransport from "./internal/transport.ts"

// Not next to `import.meta.url`: in a worker bundle that is the bundle's (see entryPoints.ts).
const childEntry = entryPoints.childMain

/**
 * The parent's intake from one child, guarded. Node's IPC parser throws,
 * outside any handler, when a child writes bytes that are not a JSON message
 * on its channel (a truncated frame, raw garbage): that would kill the
 * parent. And it buffers an unfinished line without any bound: a child
 * could fill the parent's memory with one line. The guard wraps the
 * channel's reads: a read the parser rejects, or one that leaves more than
 * `limit` characters of an unfinished line (every frame is one until its
 * newline arrives, so a frame can pass the limit by one read at most), is a
 * `Violation`. After a violation the guard drops what the channel buffered
 * and closes it (the parent's file descriptor with it); the core kills the
 * child. It relies on Node's internal channel handle; when a Node version
 * lacks it, the parent is as exposed as before.
 */
const guardChannel = (child: ChildProcess, limit: number, onViolation: (message: string) => void): void => {
  const handle = internal(child, "kChannelHandle") as { onread?: unknown; buffering?: boolean } | undefined
  if (handle === undefined || typeof handle.onread !== "function") return
  const onread = handle.onread as (...args: Array<unknown>) => unknown
  const buffer = Object.getOwnPropertySymbols(handle).find((symbol) => symbol.description === "kJSONBuffer")
  const state = handle as Record<symbol, unknown>
  const pending = () => (buffer === undefined ? 0 : (state[buffer] as string).length)
  let broken = false
  const violate = (message: string) => {
    broken = true
    if (buffer !== undefined) state[buffer] = ""
    // Node closes a channel that is buffering only after the next complete message: there will be none.
    handle.buffering = false
    onViolation(message)
    if (child.connected) child.disconnect()
  }
  handle.onread = function (this: unknown, ...args: Array<unknown>) {
    if (broken) return
    try {
      onread.apply(this, args)
    } catch (error) {
      return violate(`it wrote bytes that are not a message on its channel (${String(error)})`)
    }
    if (pending() > limit) violate(`it sent a frame of more than ${limit} bytes`)
  }
}

/** A property of a Node object kept under an internal symbol, found by the symbol's description. */
const internal = (target: object, description: string): unknown => {
  const key = Object.getOwnPropertySymbols(target).find((symbol) => symbol.description === description)
  return key === undefined ? undefined : (target as Record<symbol, unknown>)[key]
}

/**
 * Whether a child keeps this process's event loop alive: its process handle
 * and its IPC channel. An idle pool worker does not (`Connection.idle`), so a
 * program that never closed its pool exits once its main part is done; the
 * child then hears its channel close and exits with its group.
 */
const holdLoop = (child: ChildProcess, hold: boolean): void => {
  if (hold) {
    child.ref()
    child.channel?.ref()
  } else {
    child.unref()
    child.channel?.unref()
  }
}

/** How long to wait for the IPC channel to drain after the child exited. */
const drainTimeoutMs = 1000

/**
 * Runtime flags a child inherits from the parent: all of them except the
 * debugger's, which would fight over the parent's inspector port.
 */
const inheritedExecArgv = (): Array<string> =>
  process.execArgv.filter((flag) => !/^--(inspect|debug)(-brk|-port|-wait)?(=|$)/.test(flag))

interface Spawned {
  readonly child: ChildProcess
  readonly connection: T.Connection
}

const spawnChild: NodeTransport.Platform<Spawned>["start"] = (options, onFrame, bundle) =>
  Effect.callback<Spawned, TroupeError.SpawnError>((resume) => {
    if (forcedToStop()) {
      resume(Effect.fail(forkFailed("a second SIGINT or SIGTERM is stopping this program")))
      return
    }
    if (entryPoints.missing !== undefined) {
      resume(Effect.fail(forkFailed(entryPoints.missing)))
      return
    }
    // The child checks at start that this process is still its parent (parentCheck.ts).
    // The child keeps its replies within the frames this process takes (guardChannel): one too big fails alone.
    const maxFrameBytes = options.maxFrameBytes ?? Transport.defaultMaxFrameBytes
    const args = [...childArguments({ ...options.runner, maxFrameBytes }, bundle), parentArgument()]
    let child: ChildProcess
    try {
      child = fork(childEntry, args, {
        detached: true,
        serialization: "json",
        stdio: ["ignore", options.stdout, options.stderr, "ipc"],
        execArgv: options.execArgv === undefined ? inheritedExecArgv() : [...options.execArgv],
        env: NodeTransport.childEnv(options.env)
      })
    } catch (error) {
      resume(Effect.fail(forkFailed(error)))
      return
    }
    // From the fork on, this process's reaper kills the child's group if this process dies, however it dies.
    const forget = child.pid === undefined ? () => {} : Reaper.register(child.pid)

    let status: ExitStatus.ExitStatus | undefined
    let drained = false
    const { exited, wake } = NodeTransport.exitWaiters(() => (drained ? status : undefined))

    let heard = false
    child.on("message", (frame) => {
      heard = true
      onFrame(frame)
    })
    const report = NodeTransport.violationReporter(onFrame)
    guardChannel(child, maxFrameBytes, report)
    const markDrained = () => {
      drained = true
      if (status !== undefined) wake()
    }
    const closedEarly = onChannelClosed(() => status === undefined, report)
    child.on("disconnect", () => {
      closedEarly()
      markDrained()
    })
    // SIGINT and SIGTERM to this process reach the child's group as signals.ts says, until the child exits.
    let untrack = () => {}
    child.on("exit", (code, signal) => {
      untrack()
      forget()
      status = new ExitStatus.ExitStatus({ code, signal })
      if (bundle !== undefined && !heard && code !== null && code !== 0) distrust(options.runner.preload)
      if (child.connected) setTimeout(markDrained, drainTimeoutMs).unref()
      else markDrained()
    })
    child.on("error", (error) => {
      if (child.pid === undefined) resume(Effect.fail(forkFailed(error)))
    })
    const sendUnsafe = (frame: unknown) => {
      if (child.connected) child.send(frame as object)
      // Nothing can go out on a channel the running child closed: it is broken now, not after the grace.
      else if (status === undefined) report(closedChannel)
    }
    child.once("spawn", () => {
      const pid = child.pid!
      if (status === undefined) untrack = track(() => signalGroup(pid, "SIGKILL", child))
      resume(
        Effect.succeed({
          child,
          connection: {
            pid,
            modules: bundle === undefined ? undefined : new Set(options.runner.preload),
            sendUnsafe,
            send: sendEffect(sendUnsafe, `child ${pid}`),
            exited,
            exitStatus: () => status,
            // A signalled child is waited for: it keeps this process alive until it exits.
            signal: (signal) =>
              Effect.sync(() => {
                if (status === undefined) {
                  holdLoop(child, true)
                  signalGroup(pid, signal, child)
                }
              }),
            idle: (idle) => {
              if (status === undefined) holdLoop(child, !idle)
            },
            stdout: NodeTransport.readable(child.stdout),
            stderr: NodeTransport.readable(child.stderr)
          }
        })
      )
    })
  })

const forkFailed = (error: unknown) =>
  new TroupeError.SpawnError({
    reason: "ForkFailed",
    module: childEntry,
    task: "",
    message: `cannot fork a child: ${String(error)}`
  })

/**
 * Stops a child: SIGTERM to its group, SIGKILL after the timeout, then a
 * final SIGKILL to the group for any grandchild left behind.
 */
const stop = ({ child, connection }: Spawned, timeout: T.SpawnOptions["shutdownTimeout"]) =>
  Effect.gen(function* () {
    yield* Transport.stopInSteps(connection, ["SIGTERM", "SIGKILL"], timeout)
    signalGroup(connection.pid, "SIGKILL")
    child.removeAllListeners("message")
    if (child.connected) child.disconnect()
  })

/**
 * The `Transport` backed by `child_process.fork`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Process, Task } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 *
 * const Hello = Task.make("Hello", {
 *   payload: Schema.String,
 *   handler: (name) => Effect.sync(() => console.log(`hello, ${name}`))
 * })
 *
 * if (import.meta.main) {
 *   Effect.runPromise(Process.run(Hello, "world").pipe(Effect.provide(NodeProcess.layer)))
 * }
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport> = NodeTransport.layer({ start: spawnChild, stop })
