/**
 * The channel to a child, as both platforms share it: the `send` of a
 * connection, in Effect (a frame the channel cannot take, a value that
 * cannot be serialized or cloned, becomes an `ArgumentEncodeError` for the
 * task it carries), and what a channel that closed before its child exited
 * means.
 *
 * @internal
 */
import * as TroupeError from "@troupe/core/TroupeError"
import * as Effect from "effect/Effect"

/** Wraps a throwing `sendUnsafe`; `target` names the child in the message ("child 42", "thread 3"). */
export const sendEffect =
  (sendUnsafe: (frame: unknown) => void, target: string) =>
  (frame: unknown): Effect.Effect<void, TroupeError.ArgumentEncodeError> =>
    Effect.try({
      try: () => sendUnsafe(frame),
      catch: (error) =>
        new TroupeError.ArgumentEncodeError({
          task: (frame as { task?: string }).task ?? "",
          message: `cannot send the frame to ${target}: ${String(error)}`
        })
    })

/**
 * How long a child whose channel closed has to exit before the parent takes
 * it for a child that closed its channel and kept running (a child that
 * exits closes its channel a moment before the parent hears of the exit).
 */
const closedChannelGraceMs = 1000

/** Why a child whose channel closed while it runs is broken. */
export const closedChannel = "it closed its channel to the parent and kept running"

/**
 * The listener for a channel that closed: if the child still runs after the
 * grace, `report` a `Violation` (the core kills the child), so that no call
 * waits forever for a reply that cannot come. (A frame the parent tries to
 * send on the closed channel meanwhile is reported at once: it cannot go out.)
 */
export const onChannelClosed = (running: () => boolean, report: (message: string) => void) => (): void => {
  setTimeout(() => {
    if (running()) report(closedChannel)
  }, closedChannelGraceMs).unref()
}
