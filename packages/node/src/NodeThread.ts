/**
 * Node.js worker threads as Troupe's `Transport`.
 *
 * Provide `NodeThread.layer` instead of `NodeProcess.layer` to run the same
 * tasks on `node:worker_threads`: a thread starts faster and costs less memory
 * than a process, but shares the process with its parent, so it isolates less.
 * Pick per workload: threads for many short, trusted, CPU-bound tasks;
 * processes for anything that may crash the runtime, leak, or spawn programs.
 *
 * Each thread runs Troupe's thread entry and exchanges frames with
 * `postMessage` (structured clone). How the `Transport` contract maps onto a
 * thread:
 *
 * - `pid` is the thread's `threadId`. All threads share the parent's process
 *   id, and a thread id is unique only within its process.
 * - Exits are `{ code, signal: null }`: `process.exit(8)` in the thread gives
 *   code 8, an uncaught exception gives code 1. Threads have no signals, so
 *   `SIGTERM`, `SIGINT` and `SIGKILL` all call `worker.terminate()`, which stops
 *   the thread even in a synchronous loop and ends it with code 1 (never a
 *   signal). Node itself reports code 0 for a thread terminated while it is
 *   still loading its entry; the transport reports 1 for any thread it
 *   terminated, so a thread that happened to exit with 0 at the very moment
 *   it was terminated is reported as 1. Once the thread has exited,
 *   signalling is a no-op.
 * - An uncaught exception (or running out of memory) in the thread never
 *   reaches the parent's own error handling: the transport listens for the
 *   worker's `error` event. Node prints nothing for it, so the transport
 *   writes the error's stack where a process would have printed it: at the
 *   end of the piped `stderr` stream, or on the parent's standard error.
 * - `env`: a thread gets its own copy of the environment (the parent's when
 *   `env` is not given, never `SHARE_ENV`), so a task that changes
 *   `process.env` changes it for its own thread only, as a process would.
 * - `execArgv`: without it, a thread inherits the parent's flags, as Node
 *   does. `--max-old-space-size=N` becomes the thread's heap limit
 *   (`resourceLimits.maxOldGenerationSizeMb`), so running out of memory ends
 *   the thread (`ERR_WORKER_OUT_OF_MEMORY`, code 1), not the process. Every
 *   other flag goes to the `Worker` unchanged; one a thread does not accept
 *   (V8 or process-wide flags such as `--expose-gc`) is a `SpawnError` with
 *   reason `ForkFailed` that names the flag.
 * - What a thread sends cannot be bounded: `postMessage` clones a frame into
 *   the parent's heap before the parent sees it, so `maxFrameBytes` does not
 *   apply to threads (a thread shares the parent's process and memory
 *   anyway; pick processes to isolate code you do not trust). A thread that
 *   closes its port and keeps running is terminated as a crash, as a process
 *   that closes its channel is killed.
 * - Closing the spawning scope terminates a thread that still runs and waits
 *   for it to exit. Nothing graceful comes first, since a thread could not
 *   refuse a termination anyway; `shutdownTimeout` only bounds that wait (a
 *   thread blocked in native code stops when it returns to JavaScript), after
 *   which the transport stops waiting and no longer keeps the event loop alive.
 *
 * - A thread whose task modules are known (a pool's) starts from the same
 *   bundle as a child process: the runner and the task modules in one
 *   tree-shaken file, which loads several times faster than the modules do.
 *
 * What a thread cannot isolate: a native crash, `process.kill(process.pid)` or
 * `process.abort()` in a thread ends the whole process; programs a thread
 * spawns are not in a process group of their own and are not reaped when the
 * thread stops; `process.memoryUsage.rss()` (and so the `rss` a runner reports)
 * is the whole process's.
 *
 * @since 0.1.0
 */

import { type MessagePort, type ResourceLimits, Worker } from "node:worker_threads"
import * as ExitStatus from "@troupe/core/ExitStatus"
import type * as T from "@troupe/core/Transport"
import * as Transport from "@troupe/core/Transport"
import * as TroupeError from "@troupe/core/TroupeError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { distrust } from "./internal/bundle.ts"
import { entryPoints } from "./internal/entryPoints.ts"
import { childArguments } from "./internal/runnerOptions.ts"
import { closedChannel, onChannelClosed, sendEffect } from "./internal/send.ts"
import { forcedToStop, track } from "./internal/signals.ts"
import * as NodeTransport from "./internal/transport.ts"

// Not next to `import.meta.url`: in a worker bundle that is the bundle's (see entryPoints.ts).
const threadEntry = entryPoints.threadMain

const maxOldSpaceSize = /^--max[-_]old[-_]space[-_]size=(\d+)$/

/**
 * Splits the caller's runtime flags into the thread's `execArgv` and its
 * `resourceLimits`; without flags the thread inherits the parent's.
 */
const flagsFor = (
  execArgv: ReadonlyArray<string> | undefined
): { readonly execArgv?: Array<string>; readonly resourceLimits?: ResourceLimits } => {
  if (execArgv === undefined) return {}
  const flags: Array<string> = []
  let maxOldGenerationSizeMb: number | undefined
  for (const flag of execArgv) {
    const match = maxOldSpaceSize.exec(flag)
    if (match === null) flags.push(flag)
    else maxOldGenerationSizeMb = Number(match[1])
  }
  return maxOldGenerationSizeMb === undefined
    ? { execArgv: flags }
    : { execArgv: flags, resourceLimits: { maxOldGenerationSizeMb } }
}

/**
 * The thread's environment (see `childEnv`), without the unset variables (a
 * `Worker` would turn them into `"undefined"`).
 */
const envFor = (env: T.SpawnOptions["env"]): Record<string, string> => {
  const copy: Record<string, string> = {}
  for (const [name, value] of Object.entries(NodeTransport.childEnv(env))) if (value !== undefined) copy[name] = value
  return copy
}

const describe = (error: unknown): string =>
  error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : `Uncaught ${String(error)}`

interface Spawned {
  readonly worker: Worker
  readonly connection: T.Connection
}

const spawnThread: NodeTransport.Platform<Spawned>["start"] = (options, onFrame, bundle) =>
  Effect.suspend(() => {
    if (forcedToStop()) return Effect.fail(startFailed("a second SIGINT or SIGTERM is stopping this program"))
    if (entryPoints.missing !== undefined) return Effect.fail(startFailed(entryPoints.missing))
    let worker: Worker
    try {
      const env = envFor(options.env)
      const argv = childArguments(options.runner, bundle)
      worker = new Worker(threadEntry, {
        name: "troupe",
        argv,
        env,
        ...flagsFor(options.execArgv),
        stdout: options.stdout === "pipe",
        stderr: options.stderr === "pipe"
      })
    } catch (error) {
      return Effect.fail(startFailed(error))
    }
    // Read now: once the thread has exited, `worker.threadId` is -1.
    const pid = worker.threadId

    let status: ExitStatus.ExitStatus | undefined
    let terminated = false
    const terminate = () => {
      if (status !== undefined) return
      terminated = true
      // A terminated thread is waited for: it keeps this process alive until it exits.
      worker.ref()
      worker.terminate().catch(() => {})
    }
    // A second SIGINT or SIGTERM during a shutdown terminates the thread now (see signals.ts).
    const untrack = track(terminate)
    let uncaught: string | undefined
    let heard = false
    const { exited, wake } = NodeTransport.exitWaiters(() => status)

    // Node delivers every frame the thread posted before it emits `exit`.
    worker.on("message", (frame) => {
      heard = true
      onFrame(frame)
    })
    // A frame the parent cannot deserialize: hand on something no frame Schema
    // accepts, so the core reports a malformed frame instead of waiting.
    worker.on("messageerror", (error) =>
      onFrame(Transport.violation(`it posted a frame that cannot be read (${error})`))
    )
    // A thread that closes its end (`parentPort.close()`) and keeps running could never reply: a violation.
    // Node emits no event for it on the `Worker`, only on its internal public port.
    const publicPort = Object.getOwnPropertySymbols(worker).find((symbol) => symbol.description === "kPublicPort")
    const port = publicPort === undefined ? undefined : (worker as unknown as Record<symbol, MessagePort>)[publicPort]
    let portClosed = false
    const report = NodeTransport.violationReporter(onFrame)
    const closedEarly = onChannelClosed(() => status === undefined, report)
    port?.on?.("close", () => {
      portClosed = true
      closedEarly()
    })
    worker.on("error", (error) => {
      uncaught = `${describe(error)}\n`
      if (options.stderr === "inherit") process.stderr.write(uncaught)
    })
    worker.on("exit", (code) => {
      untrack()
      // Node reports 0 for a thread terminated while it was still loading its entry.
      status = new ExitStatus.ExitStatus({ code: terminated && code === 0 ? 1 : code, signal: null })
      // A bundle the thread could not even load is not used again: later threads start unbundled.
      if (bundle !== undefined && !heard && !terminated && code !== 0) distrust(options.runner.preload)
      wake()
    })

    const sendUnsafe = (frame: unknown) => {
      if (status !== undefined) return
      // Nothing can go out on a port the running thread closed: it is broken now, not after the grace.
      if (portClosed) report(closedChannel)
      else worker.postMessage(frame, Transport.transferList(frame) as Array<ArrayBuffer>)
    }
    // The thread's stderr, then what it died of: `error` comes before `exit`.
    const stderr = () =>
      Stream.concat(
        NodeTransport.readable(worker.stderr),
        Stream.unwrap(
          Effect.map(exited, () =>
            uncaught === undefined ? Stream.empty : Stream.make(new TextEncoder().encode(uncaught))
          )
        )
      )

    return Effect.succeed({
      worker,
      connection: {
        pid,
        modules: bundle === undefined ? undefined : new Set(options.runner.preload),
        sendUnsafe,
        send: sendEffect(sendUnsafe, `thread ${pid}`),
        exited,
        exitStatus: () => status,
        signal: () => Effect.sync(terminate),
        // An idle pool worker does not keep this process alive: a program that never closed its pool still exits.
        idle: (idle) => {
          if (status !== undefined) return
          if (idle) worker.unref()
          else worker.ref()
        },
        stdout: options.stdout === "pipe" ? NodeTransport.readable(worker.stdout) : Stream.empty,
        stderr: options.stderr === "pipe" ? stderr() : Stream.empty
      }
    })
  })

const startFailed = (error: unknown) =>
  new TroupeError.SpawnError({
    reason: "ForkFailed",
    module: threadEntry,
    task: "",
    message: `cannot start a worker thread: ${String(error)}`
  })

/**
 * Stops a thread that still runs: terminates it and waits, at most
 * `timeout`, for it to exit.
 */
const stop = ({ connection, worker }: Spawned, timeout: T.SpawnOptions["shutdownTimeout"]) =>
  Effect.gen(function* () {
    if (connection.exitStatus() === undefined) {
      yield* connection.signal("SIGKILL")
      const stopped = yield* Effect.timeoutOption(connection.exited, timeout)
      if (stopped._tag === "None") worker.unref()
    }
    worker.removeAllListeners("message")
    worker.removeAllListeners("messageerror")
  })

/**
 * The `Transport` backed by `node:worker_threads`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Process, Task } from "@troupe/core"
 * import { NodeThread } from "@troupe/node"
 *
 * const Fib = Task.make("Fib", {
 *   payload: Schema.Number,
 *   success: Schema.Number,
 *   handler: (n) => Effect.sync(() => {
 *     const fib = (k: number): number => (k < 2 ? k : fib(k - 1) + fib(k - 2))
 *     return fib(n)
 *   })
 * })
 *
 * if (import.meta.main) {
 *   // The same program runs on processes with `NodeProcess.layer`.
 *   Effect.runPromise(Process.run(Fib, 30).pipe(Effect.provide(NodeThread.layer))).then(console.log) // 832040
 * }
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport> = NodeTransport.layer({
  start: spawnThread,
  stop,
  sharesMemory: true
})
