/**
 * A forked child's start-up check that its parent is still alive.
 *
 * The parent names itself in the child's arguments (`--troupe-parent=`).
 * Before it loads anything, the child compares that pid with
 * `process.ppid`: when a parent dies, the kernel gives its children to pid 1
 * or to a subreaper, so a parent that died right after the fork (before it
 * could register the child with its reaper, reaper.ts) is caught here, and
 * the child SIGKILLs its own process group at once. From then on the
 * parent's reaper and the IPC channel's `disconnect` guard (childMain.ts)
 * cover the child.
 *
 * @internal
 */

const flag = "--troupe-parent="

/** The argument that tells a child which process must be its parent: this one. */
export const parentArgument = (): string => `${flag}${process.pid}`

/** Ends this child and its group when the parent named in `argv` is no longer its parent. */
export const exitIfOrphaned = (argv: ReadonlyArray<string>): void => {
  const argument = argv.find((arg) => arg.startsWith(flag))
  if (argument === undefined || process.ppid === Number(argument.slice(flag.length))) return
  try {
    process.kill(-process.pid, "SIGKILL")
  } finally {
    process.kill(process.pid, "SIGKILL")
  }
}
