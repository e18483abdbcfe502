/**
 * Progress lines for Node programs: one line rewritten in place when stdout
 * is a terminal, plain lines once a second when it is not (a log file, CI).
 *
 * @since 0.1.0
 */
import * as Progress from "@troupe/core/Progress"

/**
 * An `onProgress` callback for `map`/`imap` that writes to stdout (or `stream`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@troupe/core"
 * import { NodeProgress } from "@troupe/node"
 *
 * declare const Square: any
 * const squares = Pool.map(Square, [1, 2, 3], { onProgress: NodeProgress.terminal("squares") })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const terminal = (
  label: string,
  options?: { readonly stream?: NodeJS.WriteStream | undefined; readonly intervalMs?: number | undefined }
): ((progress: Progress.Progress) => void) => {
  const stream = options?.stream ?? process.stdout
  return Progress.reporter({
    label,
    live: stream.isTTY === true,
    write: (text) => {
      stream.write(text)
    },
    intervalMs: options?.intervalMs
  })
}
