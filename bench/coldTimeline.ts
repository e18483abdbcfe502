/**
 * One cold start, phase by phase (issue 16): `node --import ./distHooks.mjs
 * coldTimeline.ts --contender X`. In a fresh process it loads the contender
 * (the library's import), creates a pool of 2 and runs one task, and prints
 * one `@@timeline {...}` line: when each phase ended (milliseconds from the
 * process's start, `performance.now()`), when each worker was spawned and
 * first spoke (its Ready frame for Troupe, its first reply for the raw
 * pools), and the CPU time spent so far, read from `/proc/<pid>/task/*\/schedstat`
 * (on-CPU nanoseconds: a process waiting for a core costs nothing, so this
 * holds on a loaded machine where the wall-clock phases do not).
 * `coldStart.ts` runs it in alternation for several builds or settings.
 */
import { subscribe } from "node:diagnostics_channel"
import { readdirSync, readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"

const harnessMs = performance.now()

/** On-CPU milliseconds of every thread of `pid` (V8's helpers and worker threads included). */
const cpuMs = (pid: number | "self"): number => {
  let ns = 0
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
      } catch {}
    }
  } catch {}
  return ns / 1e6
}

const harnessCpuMs = cpuMs("self")

interface Worker {
  /** The child process's pid (read once spawned: the channel reports a process before it has one). */
  readonly pid: () => number | undefined
  readonly spawnMs: number
  firstMessageMs?: number
  /** The child process's CPU when it first spoke (its start-up; processes only). */
  bootCpuMs?: number
}

const workers: Array<Worker> = []
const watch = (
  emitter: { once(event: "message", listener: () => void): unknown },
  pid: Worker["pid"],
  spawnMs = performance.now()
) => {
  const worker: Worker = { pid, spawnMs }
  workers.push(worker)
  emitter.once("message", () => {
    worker.firstMessageMs = performance.now()
    const id = pid()
    if (id !== undefined) worker.bootCpuMs = cpuMs(id)
  })
}
subscribe("child_process", (message) => {
  const { process: child } = message as { process: import("node:child_process").ChildProcess }
  // Workers only: not Troupe's reaper shell or esbuild's service (the channel reports a process before it spawns).
  const spawnMs = performance.now()
  queueMicrotask(() => {
    if (child.spawnfile === process.execPath) watch(child, () => child.pid, spawnMs)
  })
})
subscribe("worker_threads", (message) => {
  const { worker } = message as { worker: import("node:worker_threads").Worker }
  watch(worker, () => undefined)
})

const { values: args } = parseArgs({ options: { contender: { type: "string" } } })
const { make } = (await import(`./contenders/${args.contender}.ts`)) as {
  make: () => import("./contenders/types.ts").Contender
}
const importedMs = performance.now()
const importedCpuMs = cpuMs("self")
const contender = make()
await contender.start(2)
const startedMs = performance.now()
const startedCpuMs = cpuMs("self")
const result = await contender.run(3)
const firstResultMs = performance.now()
const parentCpuMs = cpuMs("self")
const childCpuMs = workers.map((worker) => {
  const pid = worker.pid()
  return pid === undefined ? 0 : cpuMs(pid)
})
if (result !== 9) throw new Error(`wrong result ${result}`)
const pids = await contender.pids()
console.log(
  `@@timeline ${JSON.stringify({
    harnessMs,
    harnessCpuMs,
    importedMs,
    importedCpuMs,
    startedMs,
    startedCpuMs,
    firstResultMs,
    parentCpuMs,
    childCpuMs,
    workers: workers.map(({ pid: _, ...rest }) => rest)
  })}`
)
await Promise.race([contender.close(), new Promise((resolve) => setTimeout(resolve, 3000))])
for (const pid of pids) {
  try {
    process.kill(pid, "SIGKILL")
  } catch {}
}
process.exit(0)
