/**
 * The pool's supervision path: one fiber per occupied slot runs worker after
 * worker in it. A planned ending (retired) restarts at once; a crash or a
 * failed start is recorded in the pool-wide restart window (OTP's intensity)
 * and, unless the window is exceeded, the slot waits out its own backoff
 * (Akka's formula, reset after a stable run) before the next worker. Past the
 * intensity the pool gives up: every waiting and later caller gets
 * `RestartIntensityExceeded` and every worker is stopped.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as RestartPolicy from "../RestartPolicy.ts"
import { RestartIntensityExceeded } from "../TroupeError.ts"
import type { Dispatcher } from "./dispatcher.ts"
import type { Slot } from "./slot.ts"

export interface Supervision {
  /** The life of one slot: workers until the slot idles, the pool closes, or the pool gives up. */
  readonly supervise: (slot: Slot) => Effect.Effect<void>
  /** Restarts after crashes and failed starts so far. */
  readonly restarts: () => number
}

export const makeSupervision = (options: {
  readonly dispatcher: Dispatcher
  readonly liveCount: () => number
  readonly intensity: RestartPolicy.Intensity
  readonly backoff: RestartPolicy.BackoffOptions
}): Supervision => {
  const { backoff, dispatcher, intensity, liveCount } = options
  const resetAfterMs =
    (Duration.toMillis(Duration.fromInputUnsafe(backoff.min)) +
      Duration.toMillis(Duration.fromInputUnsafe(backoff.max))) /
    2
  let restartHistory: ReadonlyArray<number> = []
  let restarts = 0

  const giveUp = (error: RestartIntensityExceeded) => {
    dispatcher.telemetry.publish({ _tag: "PoolGaveUp", reason: error.message, at: Date.now() })
    dispatcher.broken = error
    dispatcher.failQueued(() => error)
    for (const slot of dispatcher.slots) {
      for (const item of [...slot.held.values()]) dispatcher.settle(item, Exit.fail(error))
      slot.kill()
    }
  }

  const supervise = (slot: Slot) =>
    Effect.gen(function* () {
      let consecutive = 0
      // While the pool drains at shutdown, a retired worker is still replaced if work is waiting for it.
      const wanted = () => dispatcher.broken === undefined && (!dispatcher.closing || dispatcher.queue.length > 0)
      while (wanted()) {
        const ending = yield* slot.life
        if (ending._tag === "Retired") {
          consecutive = 0
          continue
        }
        if (ending._tag !== "Crashed" && ending._tag !== "StartFailed") return
        if (dispatcher.closing) return
        const recorded = RestartPolicy.addRestart(restartHistory, Date.now(), intensity)
        restartHistory = recorded.history
        restarts++
        const telemetry = dispatcher.telemetry
        telemetry.restarts++
        const at = Date.now()
        if (ending._tag === "StartFailed") {
          telemetry.publish({ _tag: "WorkerStartFailed", worker: slot.slot, message: ending.error.message, at })
        }
        telemetry.publish({ _tag: "PoolDegraded", live: liveCount(), size: dispatcher.slots.length, at })
        const reason =
          ending._tag === "Crashed" ? `worker ${ending.pid} ended with ${ending.status}` : ending.error.message
        if (recorded.exceeded) {
          return giveUp(
            new RestartIntensityExceeded({ restarts: recorded.history.length, periodMs: intensity.periodMs, reason })
          )
        }
        if (ending._tag === "StartFailed" && liveCount() === 0) dispatcher.failQueued(() => ending.error)
        if (ending._tag === "Crashed" && ending.uptimeMs >= resetAfterMs) consecutive = 0
        const delay = RestartPolicy.backoffDelay(consecutive++, backoff, Math.random())
        const delayMs = Duration.toMillis(delay)
        dispatcher.telemetry.backoffMs.update(delayMs)
        dispatcher.telemetry.publish({ _tag: "WorkerRestarting", worker: slot.slot, delayMs, at: Date.now() })
        yield* Effect.sleep(delay)
      }
    })

  return { supervise, restarts: () => restarts }
}
