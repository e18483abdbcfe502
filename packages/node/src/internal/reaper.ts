/**
 * The reaper: one tiny process per parent that kills the parent's forked
 * children when the parent dies, whatever it died of and whatever the
 * children are doing.
 *
 * A child's own orphan guard (the IPC channel's `disconnect`, childMain.ts)
 * needs the child's event loop: a child spinning in a synchronous loop, or
 * stuck importing a task module, never hears it. The reaper needs nothing
 * of the child. It is a POSIX shell (`/bin/sh`, about 1 MB) started once,
 * in a session of its own, that reads its standard input from a pipe whose
 * only writer is this process: the parent registers each child's process
 * group (`+pgid`) right after forking it and forgets it (`-pgid`) once it
 * is reaped. When this process ends (exit, crash, SIGTERM, SIGKILL, the OOM
 * killer), the kernel closes its end of the pipe; the reaper reads end of
 * file and SIGKILLs every group still registered, then exits. It ignores
 * SIGINT, SIGTERM and SIGHUP, so a Ctrl-C that ends the program does not end
 * the reaper first.
 *
 * It is unref'd (it never keeps the parent alive) and costs one process per
 * parent, not one per child. A reaper that dies (someone killed it) is
 * started again at the next registration. Where no `/bin/sh` can be
 * started, children keep their own guards only.
 *
 * @internal
 */
import { type ChildProcess, spawn } from "node:child_process"

// POSIX sh only (dash has no `kill --`): groups is a space-separated list with a space on either side of each pgid.
const script = `trap '' INT TERM HUP
groups=' '
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups\${line#+} " ;;
    -*) g="\${line#-}"; case "$groups" in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac ;;
  esac
done
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done`

let reaper: ChildProcess | undefined
let unavailable = false
/** The groups registered and not yet forgotten: a reaper started again is told all of them. */
const live = new Set<number>()

const alive = (process: ChildProcess | undefined): process is ChildProcess =>
  process !== undefined && process.exitCode === null && process.signalCode === null

const start = (): ChildProcess | undefined => {
  if (alive(reaper)) return reaper
  if (unavailable) return undefined
  try {
    // Named in `ps` as troupe-reaper; an empty environment (it runs shell builtins only) so nothing looks for it there.
    const started = spawn("/bin/sh", ["-c", script], {
      argv0: "troupe-reaper",
      env: {},
      stdio: ["pipe", "ignore", "ignore"],
      detached: true
    })
    started.on("error", () => {
      unavailable = true
    })
    started.stdin!.on("error", () => {})
    started.unref()
    ;(started.stdin as unknown as { unref?: () => void }).unref?.()
    reaper = started
    for (const pgid of live) started.stdin!.write(`+${pgid}\n`)
    return started
  } catch {
    unavailable = true
    return undefined
  }
}

const tell = (line: string): void => {
  if (!alive(reaper)) return
  try {
    reaper.stdin!.write(line)
  } catch {
    // The reaper just died: the next registration starts another and tells it every live group.
  }
}

/**
 * Registers a child's process group with the reaper, right after the fork;
 * returns the function that forgets it (call it once the child is reaped,
 * before its pid can be reused).
 */
export const register = (pgid: number): (() => void) => {
  live.add(pgid)
  // A reaper started now is told every live group, this one included.
  if (alive(reaper)) tell(`+${pgid}\n`)
  else start()
  return () => {
    if (!live.delete(pgid)) return
    tell(`-${pgid}\n`)
  }
}
