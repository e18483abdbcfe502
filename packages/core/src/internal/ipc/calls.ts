/**
 * The calls of one hosted service (`Channel.serve`) that did not complete
 * at once: each runs in a fiber of its own, listed here while it runs, so
 * that closing the service interrupts them and their callers fail with a
 * `ChannelError` `ServiceClosed`. A call that completes at once never comes
 * here: it costs no fiber and no entry.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { ChannelError } from "../../TroupeError.ts"
import * as Codec from "../wire/codec.ts"
import type { Reply } from "../wire/frame.ts"

export interface Calls<R> {
  /**
   * Runs a call's work in a fiber of its own. Interrupting the caller
   * interrupts the work (and waits for it to stop); with `onLateReply`, the
   * work's outcome is passed on once known.
   */
  readonly run: (
    work: Effect.Effect<Reply, never, R>,
    onLateReply?: (reply: Reply) => void
  ) => Effect.Effect<Reply, ChannelError>
  /** Interrupts the calls still running: their callers fail with `ServiceClosed`, and so do later ones. */
  readonly close: () => void
}

export const make = <R>(context: Context.Context<R>, service: string): Calls<R> => {
  const running = new Set<Fiber.Fiber<Reply>>()
  const fork = Effect.runForkWith(context)
  let closed = false
  const closedError = () =>
    new ChannelError({
      service,
      method: "",
      reason: "ServiceClosed",
      message: `${service} was closed while the call ran`
    })

  return {
    run: (work, onLateReply) =>
      Effect.callback<Reply, ChannelError>((resume) => {
        if (closed) return resume(Effect.fail(closedError()))
        const fiber = fork(work)
        running.add(fiber)
        fiber.addObserver((exit) => {
          running.delete(fiber)
          resume(closed ? Effect.fail(closedError()) : exit)
        })
        return Effect.callback<void>((stopped) => {
          // The caller was interrupted: its resume is ignored from now on.
          fiber.addObserver((exit) => {
            onLateReply?.(Codec.replyOfExit(exit))
            stopped(Effect.void)
          })
          fiber.interruptUnsafe()
        })
      }),
    close: () => {
      closed = true
      for (const fiber of running) fiber.interruptUnsafe()
    }
  }
}
