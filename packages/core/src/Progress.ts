/**
 * Progress of a long `map` or `imap`: how many items are done, how many
 * failed, out of how many, and how fast.
 *
 * Pass `onProgress` to `map`, `mapSettled`, `imap` or `imapUnordered`; it is
 * called at most every 100 ms while items finish, and once at the end with
 * `finished: true`. `reporter` turns it into lines of text: one line
 * rewritten in place on a terminal, or a plain line every second elsewhere
 * (`NodeProgress.terminal` picks for you on Node).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly done: number
  readonly failed: number
  /** `undefined` for a stream whose length was not given (`StreamOptions.total`). */
  readonly total: number | undefined
  readonly elapsedMs: number
  /** Items finished per second since the start. */
  readonly ratePerSec: number
  readonly finished: boolean
}

/**
 * Counts finished items and calls `onProgress`, throttled.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tracker {
  /** One more item finished (`failed`: it failed). */
  readonly item: (failed: boolean) => void
  /** The work is over: reports once more, with `finished: true` (later calls do nothing). */
  readonly end: () => void
}

/** The host's monotonic time, in milliseconds. */
const hostNow = (): number => performance.now()

/**
 * Progress for work that is not one `map` or `imap` (separate `apply` calls,
 * a whole pipeline): count each item as it finishes and `onProgress` is
 * called at most every `intervalMs` (default 100) and once at the end.
 * `now` is the clock it reads, in monotonic milliseconds (default the
 * host's `performance.now()`); a pool passes its own, so its `map`'s
 * reports follow a `TestClock` too.
 *
 * @example
 * ```ts
 * import { Progress } from "@troupe/core"
 *
 * const tracker = Progress.tracker(3, (progress) => console.log(Progress.format("items", progress)))
 * tracker.item(false)
 * tracker.item(true)
 * tracker.item(false)
 * tracker.end() // "items 3/3 (100.0%) 1 failed, ... in 0.0 s"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const tracker = (
  total: number | undefined,
  onProgress: (progress: Progress) => void,
  intervalMs = 100,
  now: () => number = hostNow
): Tracker => {
  const startedAt = now()
  let done = 0
  let failed = 0
  let reportedAt = startedAt
  let ended = false
  const report = (finished: boolean) => {
    const at = now()
    reportedAt = at
    const elapsedMs = at - startedAt
    onProgress({
      done,
      failed,
      total,
      elapsedMs,
      ratePerSec: elapsedMs > 0 ? (done * 1000) / elapsedMs : 0,
      finished
    })
  }
  return {
    item: (itemFailed) => {
      done++
      if (itemFailed) failed++
      // The last item is left to `end`, which reports it once, as finished.
      if (done !== total && now() - reportedAt >= intervalMs) report(false)
    },
    end: () => {
      if (ended) return
      ended = true
      report(true)
    }
  }
}

/**
 * One line of text for a progress report.
 *
 * @example
 * ```ts
 * import { Progress } from "@troupe/core"
 *
 * Progress.format("squares", { done: 500, failed: 2, total: 1000, elapsedMs: 250, ratePerSec: 2000, finished: false })
 * // "squares 500/1000 (50.0%) 2 failed, 2000/s"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (label: string, progress: Progress): string => {
  const count =
    progress.total === undefined
      ? `${progress.done}`
      : `${progress.done}/${progress.total} (${((100 * progress.done) / Math.max(1, progress.total)).toFixed(1)}%)`
  const failed = progress.failed > 0 ? ` ${progress.failed} failed,` : ""
  const end = progress.finished ? ` in ${(progress.elapsedMs / 1000).toFixed(1)} s` : ""
  return `${label} ${count}${failed} ${Math.round(progress.ratePerSec)}/s${end}`
}

/**
 * An `onProgress` callback that writes lines: rewritten in place when
 * `live` (a terminal), or one plain line every `intervalMs` (default 1 s)
 * and a last one at the end otherwise.
 *
 * @example
 * ```ts
 * import { Progress } from "@troupe/core"
 *
 * const onProgress = Progress.reporter({ label: "squares", live: false, write: (line) => console.log(line.trimEnd()) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const reporter = (options: {
  readonly label: string
  readonly live: boolean
  readonly write: (text: string) => void
  readonly intervalMs?: number | undefined
}): ((progress: Progress) => void) => {
  const intervalMs = options.intervalMs ?? 1000
  let writtenAt = -Infinity
  return (progress) => {
    const line = format(options.label, progress)
    if (options.live) {
      options.write(`\r\x1b[2K${line}${progress.finished ? "\n" : ""}`)
      return
    }
    if (progress.finished || progress.elapsedMs - writtenAt >= intervalMs) {
      writtenAt = progress.elapsedMs
      options.write(`${line}\n`)
    }
  }
}
