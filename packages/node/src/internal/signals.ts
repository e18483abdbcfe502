/**
 * What SIGINT and SIGTERM do to a parent's children: forked processes and
 * worker threads.
 *
 * While a parent has live children, it listens for both signals:
 *
 * - A signal that nothing else in the program handles would end the parent
 *   at once (Node's default), leaving forked children to the reaper.
 *   The hook kills every child first (SIGKILL to a process's group; a
 *   thread is terminated), then lets the signal end the parent as it would
 *   have.
 * - A program that handles the first signal (`NodeRuntime.runMain`
 *   interrupts its main fiber; the scopes close and the pools stop) keeps
 *   that behaviour. A second signal during that shutdown forces it: every
 *   child is killed now (their callers fail with typed errors as their
 *   workers die), no new child starts (a pool's replacement fails with a
 *   `SpawnError`), and if the program has not exited `forceExitMs` later
 *   (a finalizer of its own hangs), it exits with 128 + the signal's
 *   number, as a shell reports a program a signal ended.
 *
 * Listeners are removed as soon as the last child is reaped, so a program
 * without children keeps Node's own signal behaviour.
 *
 * @internal
 */
import { constants } from "node:os"

const handled = ["SIGINT", "SIGTERM"] as const

/** How long a forced shutdown may take before the program is made to exit. */
const forceExitMs = 2000

/** How to kill each live child, now. */
const children = new Set<() => void>()
let signalsSeen = 0
let forced = false

const killChildren = () => {
  for (const kill of children) kill()
}

const onSignal = (signal: NodeJS.Signals) => {
  signalsSeen++
  if (process.listenerCount(signal) === 1) {
    // Only this hook listens: without it the signal would end the program now. It still does, children first.
    killChildren()
    uninstall()
    process.kill(process.pid, signal)
    return
  }
  if (signalsSeen < 2) return
  forced = true
  killChildren()
  setTimeout(() => process.exit(128 + constants.signals[signal]), forceExitMs).unref()
}

// First in line: Node removes a `once` listener (`process.once("SIGINT", close)`, a common way to shut down) before
// it calls it, so a hook that ran after one would count only itself and end the program the listener was closing.
const install = () => {
  for (const signal of handled) process.prependListener(signal, onSignal)
}

const uninstall = () => {
  for (const signal of handled) process.removeListener(signal, onSignal)
}

/**
 * Counts a live child, killed by `kill` when a signal forces it, until the
 * returned function is called (when the child has exited).
 */
export const track = (kill: () => void): (() => void) => {
  const entry = () => kill()
  if (children.size === 0) install()
  children.add(entry)
  return () => {
    if (!children.delete(entry)) return
    if (children.size === 0) {
      uninstall()
      signalsSeen = 0
    }
  }
}

/** Whether a second signal forced this program to stop: then no new child may start. */
export const forcedToStop = (): boolean => forced
