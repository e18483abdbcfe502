/**
 * The entry point of every forked Troupe child.
 *
 * It guards against orphaning first: it checks that the parent that forked
 * it is still its parent (parentCheck.ts; the parent's reaper, reaper.ts,
 * covers it from then on, even while its own loop is stuck), and listens
 * for the IPC channel's `disconnect` (the parent exited or was killed), on
 * which it kills its own process group, grandchildren included, and so
 * itself. The `disconnect` guard never re-references the
 * channel. Then the entry hands every parent frame to the core's
 * `ChildRunner` and says it is ready.
 *
 * A child's start-up time is mostly module loading, so the entry turns on
 * Node's compile cache (in Troupe's private cache directory, see
 * compileCache.ts) before it loads the runner, and loads the runner
 * (with the task modules) from a bundle when the parent built one.
 *
 * @internal
 */
// First, before any bundle loads: records the real entry points for a nested `Process` or pool.
import "./entryPoints.ts"
import * as CompileCache from "./compileCache.ts"
import { loadRunner } from "./loadRunner.ts"
import { exitIfOrphaned } from "./parentCheck.ts"
import { bundleOf } from "./runnerOptions.ts"

const send = process.send?.bind(process)
if (send === undefined) {
  process.stderr.write("troupe: this module is a child entry point; start it through @troupe/node\n")
  process.exit(2)
}

exitIfOrphaned(process.argv)
process.on("disconnect", () => {
  try {
    process.kill(-process.pid, "SIGKILL")
  } finally {
    process.exit(1)
  }
})

// Before the runner loads: its bundle (or its modules) are what this child compiles.
CompileCache.enable(bundleOf(process.argv))
// Until the first run arrives this child is bootstrapping: a task module that starts a process or a pool at its top
// level (outside its `import.meta.main` guard) is refused, not obeyed in every child (the core's processContext.ts).
;(globalThis as Record<symbol, unknown>)[Symbol.for("@troupe/core/bootstrapping")] = true
// Started from a bundle (see bundle.ts), the runner and the task modules come from one file.
const { ChildRunner, mapStack, options } = await loadRunner(process.argv)

/**
 * `Promise.withResolvers` where the runtime has it: a promise without an executor to call (a call less per reply).
 * Node 20 has none (the child would throw on its first frame and never say it is ready), so there the same shape is
 * made with an executor.
 */
const withResolvers: <A>() => PromiseWithResolvers<A> =
  typeof Promise.withResolvers === "function"
    ? Promise.withResolvers.bind(Promise)
    : <A>() => {
        let resolve!: (value: A | PromiseLike<A>) => void
        let reject!: (reason?: unknown) => void
        const promise = new Promise<A>((onResolve, onReject) => {
          resolve = onResolve
          reject = onReject
        })
        return { promise, resolve, reject }
      }

/**
 * Output on a pipe is written synchronously, as Node writes to a file or a terminal: a `process.exit(n)` anywhere (a
 * task's own, which the runner cannot wait for) then loses nothing already written. Node writes to a pipe
 * asynchronously on POSIX, and a handler's `process.exit` kept only the first tens of kilobytes. A child that fills
 * a pipe nobody reads now waits in its write (it waited at its exit before); a pool stops such a worker at its kill
 * timeout. Streams that cannot block are left as they are, and `exitWhenFlushed` still covers the runner's exit.
 */
for (const stream of [process.stdout, process.stderr]) {
  ;(stream as { _handle?: { setBlocking?: (blocking: boolean) => unknown } })._handle?.setBlocking?.(true)
}

/**
 * Exits once what this child wrote to its stdout and stderr has gone out. On a pipe (a parent's `"pipe"`, or an
 * inherited stdout that is one: `node app.ts | tee log`, a container's log) Node writes what the pipe does not take
 * at once later, from the event loop, and `process.exit` drops it. A write of nothing calls back after every write
 * before it. As a child that fills a pipe nobody reads blocks, this one waits until the pipe is read (a pool stops
 * such a worker at its kill timeout).
 */
const exitWhenFlushed = (exitCode: number): void => whenFlushed(() => process.exit(exitCode))

/** Calls `then` once what this child wrote to its stdout and stderr has gone out. */
const whenFlushed = (then: () => void): void => {
  let waiting = 2
  const flushed = () => {
    if (--waiting === 0) then()
  }
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableLength === 0 || stream.destroyed || !stream.writable) flushed()
    else stream.write("", flushed)
  }
}

const port: import("@troupe/core/ChildRunner").ChildPort = {
  // A frame the channel refuses at once rejects, as it would through an executor.
  send: (frame) => {
    const { promise, resolve, reject } = withResolvers<void>()
    try {
      send(frame, undefined, {}, (error) => (error ? reject(error) : resolve()))
    } catch (error) {
      reject(error)
    }
    return promise
  },
  done: exitWhenFlushed,
  defer: setImmediate,
  rss: () => process.memoryUsage.rss(),
  pid: process.pid,
  parentPid: process.ppid,
  // A bundled child maps the stacks it sends back to the original files.
  mapStack,
  // SIGTERM stops the runner gracefully: its runs are interrupted and the actors it hosts stopped (their finalizers
  // run). A task child then ends by the signal itself, as it would have at once without this handler: the handler
  // removes itself and raises it again. A child that hosted actors exits with code 0. A second SIGTERM changes nothing.
  onTerminate: (stop) => {
    let stopping = false
    const onSigterm = () => {
      if (stopping) return
      stopping = true
      const raise = () =>
        whenFlushed(() => {
          process.removeListener("SIGTERM", onSigterm)
          process.kill(process.pid, "SIGTERM")
        })
      void stop().then((end) => (end === "exit" ? exitWhenFlushed(0) : raise()), raise)
    }
    process.on("SIGTERM", onSigterm)
  }
}

const runner = ChildRunner.make(port, options)
process.on("message", runner.onMessage)
// An exiting child's IPC writes still go out: Node writes to the channel synchronously when nothing is queued.
process.on("exit", runner.lastWords)
// A parent that is already gone cannot hear it (EPIPE); the disconnect guard above ends this child.
// Once Ready is on its way, what this child compiled goes to disk: a child killed with its parent never gets to write
// it at exit (compileCache.ts).
runner.warmUp
  .then(() => {
    const sent = port.send({ _tag: "Ready", pid: process.pid })
    CompileCache.flush()
    return sent
  })
  .catch(() => {})
