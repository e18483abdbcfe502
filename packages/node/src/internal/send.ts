/**
 * The `send` of a connection, in Effect: a frame the channel cannot take
 * (a value that cannot be serialized or cloned) becomes an
 * `ArgumentEncodeError` for the task it carries.
 *
 * @internal
 */
import { TroupeError } from "@troupe/core"
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
