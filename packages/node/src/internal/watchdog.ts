/**
 * The orphan watchdog of a forked child: it ends the child's process group
 * when the process that forked the child is no longer its parent, whatever
 * that parent died of and whatever the child is doing.
 *
 * The parent names itself in the child's arguments (`--troupe-parent=`).
 * The child checks at once, on its main thread, before it loads anything
 * (a parent that died right after the fork is caught here), then starts a
 * tiny worker thread that checks again every `intervalMs`. The thread runs
 * builtins only, on its own event loop, so a child stuck in a synchronous
 * loop or in a module's import is still caught; it is unref'd, so it never
 * keeps a finished child alive. When the parent is gone, it SIGKILLs the
 * child's process group (the child leads one, see processGroup.ts), which
 * takes the child and its grandchildren.
 *
 * "Still its parent" is `process.ppid`: when a parent dies, the kernel gives
 * its children to pid 1 or to a subreaper, so the parent pid changes either
 * way. The channel's `disconnect` event stays the fast path (childMain.ts).
 *
 * @internal
 */
import { SHARE_ENV, Worker } from "node:worker_threads"

const flag = "--troupe-parent="

/** How often the thread compares the parent pid: an orphan lives at most about this long. */
const intervalMs = 100

/** The argument that tells a child which process must stay its parent: this one. */
export const parentArgument = (): string => `${flag}${process.pid}`

/** The parent pid named in `argv`, if any. */
const expectedParent = (argv: ReadonlyArray<string>): number | undefined => {
  const argument = argv.find((arg) => arg.startsWith(flag))
  return argument === undefined ? undefined : Number(argument.slice(flag.length))
}

// The thread's whole program. It must not import anything but builtins: it runs as `eval` code, outside any bundle.
const watcher = `"use strict";
const { workerData } = require("node:worker_threads");
const check = () => {
  if (process.ppid === workerData.parent) return;
  try { process.kill(-process.pid, "SIGKILL"); } catch {}
  process.kill(process.pid, "SIGKILL");
};
check();
setInterval(check, workerData.intervalMs);
`

const orphaned = (): never => {
  try {
    process.kill(-process.pid, "SIGKILL")
  } finally {
    process.kill(process.pid, "SIGKILL")
  }
  return process.exit(1)
}

/**
 * Arms the watchdog for the parent named in `argv`; a child started without
 * one (by an older parent) has only its `disconnect` guard.
 */
export const armWatchdog = (argv: ReadonlyArray<string>): void => {
  const parent = expectedParent(argv)
  if (parent === undefined) return
  if (process.ppid !== parent) orphaned()
  const thread = new Worker(watcher, {
    eval: true,
    workerData: { parent, intervalMs },
    // No loader hooks, inspector or other flags of the child's: the thread runs builtins only.
    execArgv: [],
    env: SHARE_ENV,
    stdout: true,
    stderr: true,
    trackUnmanagedFds: false
  })
  // A watchdog that cannot start (no threads left, out of memory) leaves the disconnect guard; it must not crash the child.
  thread.on("error", () => {})
  thread.unref()
}
