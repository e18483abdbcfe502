/**
 * What the two Node transports (`NodeProcess`, `NodeThread`) share around
 * their own way of starting a child: the `Transport` layer (a child whose
 * task modules are known starts from a bundle of them, and belongs to the
 * spawning scope, which stops it), the wait for a child's exit, the one
 * `Violation` a child may be reported for, and its output as a stream.
 *
 * @internal
 */
import type { Readable } from "node:stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import type * as ExitStatus from "@troupe/core/ExitStatus"
import * as Transport from "@troupe/core/Transport"
import type * as TroupeError from "@troupe/core/TroupeError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { bundleFor } from "./bundle.ts"

/** One started child, with what its platform needs to stop it. */
export interface Started {
  readonly connection: Transport.Connection
}

/** How a platform starts and stops a child. */
export interface Platform<S extends Started> {
  /** Starts a child; `bundle` is the bundle of its `runner.preload` modules, when there is one. */
  readonly start: (
    options: Transport.SpawnOptions,
    onFrame: (frame: unknown) => void,
    bundle: string | undefined
  ) => Effect.Effect<S, TroupeError.SpawnError>
  /** Stops a child as its scope closes, within `timeout` (`SpawnOptions.shutdownTimeout`). */
  readonly stop: (started: S, timeout: Transport.SpawnOptions["shutdownTimeout"]) => Effect.Effect<void>
  /** Whether its children share memory with the parent (`Transport.sharesMemory`). */
  readonly sharesMemory?: boolean | undefined
}

/** The `Transport` layer of a platform. */
export const layer = <S extends Started>(platform: Platform<S>): Layer.Layer<Transport.Transport> => {
  const spawn: Transport.Transport["Service"]["spawn"] = (options, onFrame) =>
    // A child with known task modules starts from a bundle of them; one that must take any module starts unbundled.
    Effect.promise(() =>
      options.runner.preload.length > 0 ? bundleFor(options.runner.preload) : Promise.resolve(undefined)
    ).pipe(
      Effect.flatMap((bundle) =>
        Effect.acquireRelease(platform.start(options, onFrame, bundle), (started) =>
          platform.stop(started, options.shutdownTimeout)
        )
      ),
      Effect.map((started) => started.connection)
    )
  return Layer.succeed(
    Transport.Transport,
    Transport.Transport.of(platform.sharesMemory === true ? { spawn, sharesMemory: true } : { spawn })
  )
}

/**
 * A child's `exited`: it completes with `status()` once that is defined;
 * the platform calls `wake` when it becomes so, which completes the
 * `Deferred` every waiter awaits (an interrupted waiter simply stops
 * awaiting it).
 */
export const exitWaiters = (
  status: () => ExitStatus.ExitStatus | undefined
): { readonly exited: Effect.Effect<ExitStatus.ExitStatus>; readonly wake: () => void } => {
  const exit = Deferred.makeUnsafe<ExitStatus.ExitStatus>()
  return {
    exited: Effect.suspend(() => {
      const known = status()
      return known === undefined ? Deferred.await(exit) : Effect.succeed(known)
    }),
    wake: () => {
      const known = status()
      if (known !== undefined) Deferred.doneUnsafe(exit, Exit.succeed(known))
    }
  }
}

/** Hands `onFrame` a `Violation` for the first way a child breaks the channel's rules; later ones add nothing. */
export const violationReporter = (onFrame: (frame: unknown) => void): ((message: string) => void) => {
  let violated = false
  return (message) => {
    if (violated) return
    violated = true
    onFrame(Transport.violation(message))
  }
}

/** A child's output as a stream; empty when it is not piped. */
export const readable = (stream: Readable | null): Stream.Stream<Uint8Array> =>
  stream === null ? Stream.empty : NodeStream.fromReadable<Uint8Array>({ evaluate: () => stream }).pipe(Stream.orDie)

/**
 * A child's environment (the given one, else this process's) without
 * `WATCH_REPORT_DEPENDENCIES`: `node --watch` sets it for the program it
 * runs, and Node then reports every module a child loads to its parent,
 * which a child cannot survive: a process sends `{ "watch:import": [...] }`
 * on its IPC channel, not a Troupe frame, and is killed for breaking the
 * protocol; a thread fails to start. The parent imports the task modules
 * too, so `--watch` still sees them.
 */
export const childEnv = (env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv => {
  const { WATCH_REPORT_DEPENDENCIES: _, ...rest } = env ?? process.env
  return rest
}
