/**
 * The pool's supervision path: one fiber per occupied slot runs worker after
 * worker in it. A planned ending (retired) restarts at once; a crash or a
 * failed start goes through the restart core (`RestartPolicy.makeRestarter`,
 * shared with supervision trees and keyed groups): the pool-wide restart
 * window (OTP's intensity) and, unless the window is exceeded, the slot's own
 * backoff (Akka's formula, reset after a stable run, `maxRestarts`) before
 * the next worker. Past the intensity, by default (`onExceeded: "degrade"`),
 * the pool goes on degraded: the slot waits the backoff's `max` and the pool
 * reports it (`PoolOverIntensity`, `stats.degraded`, a gauge) until a period
 * passes within the intensity. Under `onExceeded: "giveUp"` (OTP's strict
 * behaviour), or past `backoff.maxRestarts`, the pool gives up: every
 * waiting and later caller gets `RestartIntensityExceeded` and every worker
 * is stopped.
 *
 * A worker that answered a task before it died, or died while running one,
 * was healthy: it started, and a task killed it. Its slot's run of failures
 * starts again (Akka's manual reset), so a burst of crashes caused by tasks
 * restarts each worker after `min`, not an ever longer backoff (the restart
 * intensity still bounds a task that kills every worker it reaches); a worker
 * that dies with no task, before answering anything (a crash loop at start),
 * backs off as before.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as RestartPolicy from "../../RestartPolicy.ts"
import { RestartIntensityExceeded } from "../../TroupeError.ts"
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
  readonly backoff: RestartPolicy.Backoff
  readonly onExceeded: "degrade" | "giveUp"
}): Supervision => {
  const { backoff, dispatcher, intensity, liveCount, onExceeded } = options
  const maxRestarts = backoff.maxRestarts ?? 0
  const restarter = RestartPolicy.makeRestarter({
    intensity: intensity.maxRestarts,
    period: Duration.millis(intensity.periodMs),
    backoff
  })
  let restarts = 0

  const giveUp = (error: RestartIntensityExceeded) => {
    dispatcher.telemetry.publish({ _tag: "PoolGaveUp", reason: error.message, at: dispatcher.clock.wallMillis() })
    dispatcher.giveUp(error)
    for (const slot of dispatcher.slots) slot.kill()
  }

  const supervise = (slot: Slot) =>
    Effect.gen(function* () {
      const slotRestarts = restarter.child()
      // While the pool drains at shutdown, a retired worker is still replaced if work is waiting for it.
      const wanted = () => dispatcher.broken === undefined && (!dispatcher.closing || dispatcher.queue.length > 0)
      while (wanted()) {
        const ending = yield* slot.life
        if (ending._tag === "Retired") {
          yield* slotRestarts.healthy
          continue
        }
        if (ending._tag !== "Crashed" && ending._tag !== "StartFailed") return
        // While the pool drains, a crashed worker is replaced only for the work that still waits (what it held unstarted).
        if (dispatcher.closing && dispatcher.queue.length === 0) return
        if (ending._tag === "Crashed" && (ending.served > 0 || ending.running > 0)) yield* slotRestarts.healthy
        const decision = yield* slotRestarts.failed(
          ending._tag === "Crashed" ? { ranMs: ending.uptimeMs } : { startFailed: true }
        )
        restarts++
        const telemetry = dispatcher.telemetry
        telemetry.restarts++
        const at = dispatcher.clock.wallMillis()
        if (ending._tag === "StartFailed") {
          telemetry.publish({ _tag: "WorkerStartFailed", worker: slot.slot, message: ending.error.message, at })
        }
        telemetry.publish({ _tag: "PoolDegraded", live: liveCount(), size: dispatcher.slots.length, at })
        const reason =
          ending._tag === "Crashed" ? `worker ${ending.pid} ended with ${ending.status}` : ending.error.message
        const pastMaxRestarts = maxRestarts > 0 && decision._tag === "GiveUp" && decision.consecutive > maxRestarts
        if (decision._tag === "GiveUp" && (onExceeded === "giveUp" || pastMaxRestarts)) {
          return giveUp(
            pastMaxRestarts
              ? new RestartIntensityExceeded({
                  restarts: decision.consecutive,
                  periodMs: intensity.periodMs,
                  reason: `${reason}; worker ${slot.slot} failed ${decision.consecutive} times in a row (maxRestarts ${maxRestarts})`
                })
              : new RestartIntensityExceeded({ restarts: decision.restarts, periodMs: intensity.periodMs, reason })
          )
        }
        if (decision._tag === "GiveUp") {
          // Past the intensity, degraded: this worker restarts after the backoff's max; the pool says so.
          telemetry.degrade(intensity.periodMs)
          telemetry.publish({
            _tag: "PoolOverIntensity",
            restarts: decision.restarts,
            periodMs: intensity.periodMs,
            reason,
            at
          })
        }
        if (ending._tag === "StartFailed" && liveCount() === 0) dispatcher.failQueued(() => ending.error)
        const delay =
          decision._tag === "Restart" ? decision.delay : RestartPolicy.backoffDelay(30, backoff, yield* Random.next)
        const delayMs = Duration.toMillis(delay)
        dispatcher.telemetry.backoffMs.update(delayMs)
        dispatcher.telemetry.publish({
          _tag: "WorkerRestarting",
          worker: slot.slot,
          delayMs,
          at: dispatcher.clock.wallMillis()
        })
        yield* Effect.sleep(delay)
      }
    })

  return { supervise, restarts: () => restarts }
}
