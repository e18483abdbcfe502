/**
 * The entry point of every Troupe worker thread: the counterpart of
 * `childMain.ts` for `NodeThread`.
 *
 * It hands every frame from the parent thread to the core's `ChildRunner` and
 * says it is ready. Frames go out with `parentPort.postMessage`, which queues
 * the (structured-cloned) frame synchronously; the parent delivers every
 * queued frame before it reports the thread's exit, so a `once` runner may end
 * the thread right after posting its reply.
 *
 * There is no orphan guard: a thread cannot outlive its process, so when the
 * parent dies, so does every thread. In a thread, `process.exit(code)` ends
 * only this thread (with that exit code), and `process.memoryUsage.rss()` is
 * the resident set size of the whole process, shared by every thread in it.
 *
 * A thread's start-up time is mostly module loading, so the entry turns on
 * Node's compile cache (in Troupe's private cache directory, see
 * compileCache.ts) before it loads the runner, and loads the runner
 * (with the task modules) from a bundle when the parent built one.
 *
 * @internal
 */
import { parentPort, receiveMessageOnPort, threadId } from "node:worker_threads"
// First, before any bundle loads: records the real entry points for a nested `Process` or pool.
import "./entryPoints.ts"
import * as CompileCache from "./compileCache.ts"
import { loadRunner } from "./loadRunner.ts"
import { bundleOf } from "./runnerOptions.ts"

const parent = parentPort
if (parent === null) {
  process.stderr.write("troupe: this module is a worker-thread entry point; start it through @troupe/node\n")
  process.exit(2)
}

// Before the runner loads: its bundle (or its modules) are what this child compiles.
CompileCache.enable(bundleOf(process.argv))
// Until the first run arrives this child is bootstrapping: a task module that starts a process or a pool at its top
// level (outside its `import.meta.main` guard) is refused, not obeyed in every child (the core's processContext.ts).
;(globalThis as Record<symbol, unknown>)[Symbol.for("@troupe/core/bootstrapping")] = true
// Started from a bundle (see bundle.ts), the runner and the task modules come from one file.
const { ChildRunner, mapStack, options } = await loadRunner(process.argv)

// The runner's own `transferList`: a bundled runner records its transfers in the bundle's core.
const post = (frame: unknown) => parent.postMessage(frame, ChildRunner.transferList(frame) as Array<ArrayBuffer>)

const port: import("@troupe/core/ChildRunner").ChildPort = {
  send: (frame) =>
    new Promise((resolve) => {
      post(frame)
      resolve()
    }),
  // `postMessage` queues the frame for the parent before it returns: a reply needs no promise.
  sendNow: post,
  done: (exitCode) => process.exit(exitCode),
  defer: setImmediate,
  rss: () => process.memoryUsage.rss(),
  pid: threadId,
  // Replies may hold shared memory and move buffers (see SharedMemory.ts).
  sharesMemory: true,
  parentPid: process.pid,
  // A bundled thread maps the stacks it sends back to the original files.
  mapStack
}

const runner = ChildRunner.make(port, options)
// The runner reads every frame already queued before it starts a run (a cancelled run's `Interrupt` may be
// among them): the port's queue is handed over at once, as a process's frames of one read are.
parent.on("message", (frame) => {
  runner.onMessage(frame)
  for (let next = receiveMessageOnPort(parent); next !== undefined; next = receiveMessageOnPort(parent)) {
    runner.onMessage(next.message)
  }
})
// Node delivers what a thread posted before it reports the thread's exit.
process.on("exit", runner.lastWords)
// Once Ready is posted, what this thread compiled goes to disk: a terminated thread never gets to write it at exit.
void runner.warmUp.then(() => {
  post({ _tag: "Ready", pid: threadId })
  CompileCache.flush()
})
