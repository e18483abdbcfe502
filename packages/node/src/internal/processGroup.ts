/**
 * Signals for a child's whole process group.
 *
 * Every Troupe child is forked with `detached: true`, so it leads a process
 * group whose id is its pid; signalling `-pid` reaches the child and every
 * grandchild that did not leave the group.
 *
 * @internal
 */
import type { ChildProcess } from "node:child_process"

/**
 * Sends `signal` to the group led by `pid`, falling back to the child alone
 * when the group is gone. Returns whether anything was signalled.
 */
export const signalGroup = (pid: number, signal: NodeJS.Signals, child?: ChildProcess): boolean => {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    try {
      return child?.kill(signal) ?? false
    } catch {
      return false
    }
  }
}
