/**
 * One child process that hosts actors, as the parent sees it.
 *
 * The host spawns the child through the `Transport`, waits until it is
 * ready, sends actor frames (all the frames pushed in one tick go out as one
 * message) and routes each reply to the callback of the frame it answers.
 * When the child exits, every actor cell bound to it hears of it
 * (`hostDied`), after the last frame the child sent was delivered; then
 * `down` completes with how the child ended, in OTP's terms.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type { ExitStatus } from "../../ExitStatus.ts"
import type { Connection, StopStep } from "../../Transport.ts"
import { stopInSteps, Transport, unlessExitedWithin } from "../../Transport.ts"
import type { SpawnError } from "../../TroupeError.ts"
import * as ChildClient from "../parent/childClient.ts"
import type { ActorFrame, Reply } from "../wire/frame.ts"

/** How a hosting child ended: deliberately (`normal`, `shutdown`) or not. */
export type ExitReason = "normal" | "shutdown" | "abnormal"

/** What the host tells the cells bound to it. */
export interface Tenant {
  readonly ref: number
  readonly hostDied: (host: ActorHost) => void
  /** Its instance stopped itself and its finalizers ran (the child's `Stopped` frame). */
  readonly instanceStopped: (host: ActorHost) => void
}

export type ReplyHandler = (reply: Reply, snapshot: unknown) => void

type Outgoing = ActorFrame extends infer F ? (F extends ActorFrame ? Omit<F, "id"> : never) : never

export interface ActorHost {
  readonly pid: number
  readonly connection: Connection
  /** Queues a frame for the child and returns its id; `onReply` receives the child's answer. */
  readonly push: (frame: Outgoing, onReply: ReplyHandler) => void
  readonly tenants: Set<Tenant>
  /** Completes when the child has exited and every bound cell was told. */
  readonly down: Effect.Effect<{ readonly status: ExitStatus; readonly reason: ExitReason }>
  readonly isDown: () => boolean
  /** Called when an actor of this child says it is healthy (`Actor.healthy`), with its ref; one listener. */
  readonly onHealthy: (listener: (ref: number) => void) => void
  /** Stops the child: SIGTERM, then SIGKILL after `timeout` (`"brutalKill"`: at once; `"infinity"`: never). */
  readonly stop: (shutdown: number | "brutalKill" | "infinity") => Effect.Effect<void>
}

export interface HostOptions {
  readonly preload: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
  readonly shutdownTimeout: Duration.Input
  readonly startTimeout: Duration.Input
}

export const spawn = Effect.fnUntraced(function* (
  options: HostOptions
): Effect.fn.Return<ActorHost, SpawnError, Transport | Scope.Scope> {
  const transport = yield* Transport
  const handlers = new Map<number, ReplyHandler>()
  const tenants = new Set<Tenant>()
  const down = Deferred.makeUnsafe<{ readonly status: ExitStatus; readonly reason: ExitReason }>()
  let stoppedReason: "normal" | "shutdown" | undefined
  // The child said a SIGTERM stops it (`Terminating`), and whether this host's `stop` sent one: a child stopped by
  // someone else's signal exits with code 0 after its finalizers, yet did not end deliberately.
  let terminating = false
  let stopAsked = false
  /** Set by `Terminating`: a SIGTERM nobody here sent still gets the stop's bound (SIGKILL after `shutdown`). */
  const signalled = Deferred.makeUnsafe<void>()
  let healthyListener: ((ref: number) => void) | undefined
  let nextId = 0
  let outbox: Array<ActorFrame> = []
  let connection: Connection | undefined
  // Set before the tenants hear of the exit: a caller they resume must not pick this host again.
  let exited = false
  let heldActors = false

  const onFrame = (value: ChildClient.OwnFrame) => {
    switch (value._tag) {
      case "Replies":
        for (const addressed of value.replies) {
          const handler = handlers.get(addressed.id)
          if (handler === undefined) continue
          handlers.delete(addressed.id)
          handler(addressed.reply, addressed.snapshot)
        }
        return
      case "Stopped":
        stoppedReason = value.reason
        // Found first: the cell leaves `tenants` and may join it again (its next instance) while it is told.
        for (const tenant of tenants) {
          if (tenant.ref !== value.ref) continue
          tenant.instanceStopped(host)
          break
        }
        return
      case "Healthy":
        healthyListener?.(value.ref)
        return
      case "Terminating":
        terminating = true
        Deferred.doneUnsafe(signalled, Exit.void)
        return
      default:
        return
    }
  }

  const flush = () => {
    const frames = outbox
    outbox = []
    if (frames.length === 0 || connection === undefined || connection.exitStatus() !== undefined) return
    try {
      connection.sendUnsafe({ _tag: "Actors", frames })
    } catch {
      // The child is gone or the channel closed (its exit reaches every tenant), or one frame could not be
      // serialized: each goes alone, so that one that cannot be sent fails its own message, not those beside it.
      for (const frame of frames) sendAlone(frame)
    }
  }

  const sendAlone = (frame: ActorFrame) => {
    if (connection === undefined || connection.exitStatus() !== undefined) return
    try {
      connection.sendUnsafe({ _tag: "Actors", frames: [frame] })
    } catch (error) {
      if (connection.exitStatus() !== undefined) return
      const onReply = handlers.get(frame.id)
      handlers.delete(frame.id)
      onReply?.(
        {
          _tag: "Defect",
          name: "RequestValidationError",
          message: `the message could not be sent to its actor's process: ${error instanceof Error ? error.message : String(error)}`
        },
        undefined
      )
    }
  }

  // A child that breaks the protocol cannot be trusted with its actors: its client kills it, and its tenants hear of it.
  const client = yield* ChildClient.spawn(transport, {
    spawn: {
      stdout: "inherit",
      stderr: "inherit",
      runner: { once: false, concurrency: 1, reportRss: false, preload: options.preload, bundled: false },
      shutdownTimeout: options.shutdownTimeout,
      env: options.env,
      execArgv: options.execArgv
    },
    // The name the host reads as `Process.current` (its runner is given no identity): `child-<pid>`.
    child: { kind: "actor", pool: undefined },
    onFrame
  })
  const spawned = client.connection
  connection = spawned
  yield* client.awaitStart(options.startTimeout, "actor host", options.preload.join(", "))

  const host: ActorHost = {
    pid: spawned.pid,
    connection: spawned,
    tenants,
    push: (frame, onReply) => {
      const id = nextId++
      if (frame._tag === "Activate") heldActors = true
      handlers.set(id, onReply)
      outbox.push({ ...frame, id } as ActorFrame)
      if (outbox.length === 1) queueMicrotask(flush)
    },
    down: Deferred.await(down),
    isDown: () => exited,
    onHealthy: (listener) => {
      healthyListener = listener
    },
    stop: (shutdown) =>
      Effect.suspend(() => {
        stopAsked = true
        // A child that never held an actor has nothing for a SIGTERM to stop (it would die by the signal): it is asked
        // to close.
        const gentle: StopStep = heldActors ? "SIGTERM" : "Close"
        const stopped =
          shutdown === "brutalKill"
            ? stopInSteps(spawned, ["SIGKILL"], 0)
            : shutdown === "infinity"
              ? stopInSteps(spawned, [gentle], 0)
              : stopInSteps(spawned, [gentle, "SIGKILL"], Duration.millis(shutdown))
        return Effect.andThen(stopped, Deferred.await(down))
      }).pipe(Effect.asVoid)
  }

  // A SIGTERM from outside (`kill -TERM <pid>`) whose finalizers never end would leave the host alive and its actors
  // gone: it gets SIGKILL after the spec's `shutdown`, as a stop asked for would (`"infinity"` waits).
  const shutdownMs = Duration.toMillis(Duration.fromInputUnsafe(options.shutdownTimeout))
  if (shutdownMs > 0) {
    yield* Deferred.await(signalled).pipe(
      Effect.andThen(
        unlessExitedWithin(
          spawned,
          Duration.millis(shutdownMs),
          Effect.suspend(() => (stopAsked ? Effect.void : spawned.signal("SIGKILL")))
        )
      ),
      Effect.forkScoped
    )
  }
  yield* spawned.exited.pipe(
    Effect.flatMap((status) =>
      Effect.sync(() => {
        exited = true
        handlers.clear()
        for (const tenant of [...tenants]) tenant.hostDied(host)
        tenants.clear()
        const deliberate = status.code === 0 && (stopAsked || !terminating)
        const reason: ExitReason = stoppedReason ?? (deliberate ? "normal" : "abnormal")
        Deferred.doneUnsafe(down, Exit.succeed({ status, reason }))
      })
    ),
    Effect.forkScoped
  )
  return host
})
