/**
 * CPU per task of a short burst, thread by thread (issue 16):
 * `node --import ./distHooks.mjs burstCpu.ts --contender troupe-thread [--warmup 200] [--tasks 2000] [--inFlight all|64]`.
 * Reads each thread's on-CPU nanoseconds from `/proc/<pid>/task/<tid>/schedstat`
 * (load-independent: time spent waiting for a core does not count) and its
 * voluntary context switches (its sleeps: each one a wake-up to pay) before
 * and after one burst of one-Promise-per-task calls, as the first-task probes make them.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { createRequire, syncBuiltinESMExports } from "node:module"
import { parseArgs } from "node:util"
import type { Contender } from "./contenders/types.ts"

const { values: args } = parseArgs({
  options: {
    contender: { type: "string", default: "troupe-thread" },
    tasks: { type: "string", default: "2000" },
    inFlight: { type: "string", default: "all" },
    warmup: { type: "string", default: "200" },
    bursts: { type: "string", default: "1" },
    /** Write `.cpuprofile`s of one burst (main thread and each worker thread) with this prefix. */
    profile: { type: "string" },
    /** Which burst `--profile` samples (1-based; later bursts show warmed code). */
    profileBurst: { type: "string", default: "1" },
    /** Print each burst's start and end on the monotonic clock (µs), to window profiles taken with `node --cpu-prof`. */
    window: { type: "boolean", default: false }
  }
})

// Records every worker thread started, so the first burst can be profiled in each (`Worker.startCpuProfile`).
const workers: Array<import("node:worker_threads").Worker> = []
if (args.profile !== undefined) {
  const threads = createRequire(import.meta.url)("node:worker_threads")
  const Original = threads.Worker
  threads.Worker = class extends Original {
    constructor(...rest: Array<unknown>) {
      super(...rest)
      workers.push(this as never)
    }
  }
  syncBuiltinESMExports()
}

/** On-CPU nanoseconds of each thread of `pid`, by thread name (`main` for the main thread); `sleeps:` keys count voluntary switches. */
const threads = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${tid}`
      const comm = readFileSync(`${dir}/comm`, "utf8").trim()
      const ns = Number(readFileSync(`${dir}/schedstat`, "utf8").split(" ")[0])
      const sleeps = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`${dir}/status`, "utf8"))![1])
      const key = Number(tid) === pid ? "main" : `${comm}`
      out[key] = (out[key] ?? 0) + ns
      out[`sleeps:${key}`] = (out[`sleeps:${key}`] ?? 0) + sleeps
    } catch {}
  }
  return out
}

// An idle pool worker does not keep the process alive: this timer does, while profiles start and stop.
const alive = args.profile === undefined ? undefined : setInterval(() => {}, 1000)
const { make } = (await import(`./contenders/${args.contender}.ts`)) as { make: () => Contender }
const contender = make()
await contender.start(2)
const many = async (ns: ReadonlyArray<number>, inFlight: number) => {
  if (inFlight >= ns.length) return Promise.all(ns.map((n) => contender.run(n)))
  let next = 0
  const lane = async () => {
    while (next < ns.length) await contender.run(ns[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, ns.length) }, lane))
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
await many(range(Number(args.warmup)), 64)
const pids = [...new Set([process.pid, ...(await contender.pids())])]
const tasks = Number(args.tasks)
const inFlight = args.inFlight === "all" ? tasks : Number(args.inFlight)
for (let b = 0; b < Number(args.bursts); b++) {
  const profiling = args.profile !== undefined && b === Number(args.profileBurst) - 1
  const session = profiling ? new Session() : undefined
  const workerProfiles = profiling ? await Promise.all(workers.map((w) => (w as any).startCpuProfile())) : []
  if (session !== undefined) {
    session.connect()
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 50 })
    await session.post("Profiler.start")
  }
  // Under `perf record --control fifo:<ctl> -D -1`, `PERF_CTL=<ctl>` samples only the bursts from `--profileBurst` on.
  const perf =
    process.env.PERF_CTL !== undefined && b >= Number(args.profileBurst) - 1 ? process.env.PERF_CTL : undefined
  if (perf !== undefined) writeFileSync(perf, "enable\n")
  const before = pids.map(threads)
  const t0 = performance.now()
  const startedAt = process.hrtime.bigint()
  await many(range(tasks), inFlight)
  const endedAt = process.hrtime.bigint()
  const wall = performance.now() - t0
  const after = pids.map(threads)
  if (perf !== undefined) writeFileSync(perf, "disable\n")
  // The burst's bounds on the monotonic clock that `node --cpu-prof` stamps its samples with (µs), to window profiles.
  if (args.window) console.log(`window burst ${b + 1}: ${startedAt / 1000n} ${endedAt / 1000n}`)
  if (session !== undefined) {
    const { profile } = await session.post("Profiler.stop")
    writeFileSync(`${args.profile}-main.cpuprofile`, JSON.stringify(profile))
    for (const [i, handle] of workerProfiles.entries())
      writeFileSync(`${args.profile}-worker${i}.cpuprofile`, await handle.stop())
  }
  // Nanoseconds by thread name, the workers' threads summed over every worker (`child main`: all the workers' main threads).
  const spent: Record<string, number> = {}
  const sleeps: Record<string, number> = {}
  let total = 0
  for (const [i, pid] of pids.entries()) {
    for (const [name, n] of Object.entries(after[i]!)) {
      const d = n - (before[i]![name] ?? 0)
      if (d <= 0) continue
      const key = pid === process.pid ? name : `child ${name}`
      if (key.includes("sleeps:")) {
        const thread = key.replace("sleeps:", "")
        sleeps[thread] = (sleeps[thread] ?? 0) + d
        continue
      }
      spent[key] = (spent[key] ?? 0) + d
      total += d
    }
  }
  const perTask: Record<string, number> = {}
  for (const [key, ns] of Object.entries(spent)) perTask[key] = Math.round(ns / tasks / 100) / 10
  for (const [key, n] of Object.entries(sleeps)) sleeps[key] = Math.round((n / tasks) * 1000) / 1000
  console.log(
    `${args.contender} burst ${b + 1} inFlight=${args.inFlight}: ${Math.round((tasks / wall) * 1000)}/s, CPU µs/task total ${(total / tasks / 1000).toFixed(1)} ${JSON.stringify(perTask)} sleeps/task ${JSON.stringify(sleeps)}`
  )
}
clearInterval(alive)
await contender.close()
process.exit(0)
