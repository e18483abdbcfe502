/**
 * Warm throughput and CPU per task of one contender, runnable in any tree
 * (it needs only the contender's `start`/`run`/`close`):
 * `npx node bench/threadProbe.ts [--contender troupe-thread] [--warmup 20000] [--tasks 20000] [--reps 3]
 * [--probes tput64,tputAll] [--perCall]`.
 * Each rep runs `--tasks` tasks 64 in flight (`tput64`) and all at once
 * (`tputAll`) through `runMany` when the contender has it, as `measure.ts`
 * does (else, and with `--perCall`, one `run` Promise per task), and prints for each
 * the tasks per second, the on-CPU µs per task of every thread of this
 * process (`/proc/<pid>/task/<tid>/schedstat`) and the voluntary context
 * switches per task (a thread's sleeps: how often it drained its queue and
 * had to be woken), and the frames per task each way between this thread and
 * its worker threads (`Worker#postMessage` calls, `message` events).
 */
import { readdirSync, readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { Worker } from "node:worker_threads"

const { values: args } = parseArgs({
  options: {
    contender: { type: "string", default: "troupe-thread" },
    tasks: { type: "string", default: "20000" },
    warmup: { type: "string", default: "20000" },
    reps: { type: "string", default: "3" },
    probes: { type: "string", default: "tput64,tputAll" },
    /** One `run` Promise per task (the first-task probes' caller) even when the contender has `runMany`. */
    perCall: { type: "boolean", default: false }
  }
})

/** On-CPU ns and voluntary switches per thread name (`main` for the main thread). */
const threads = (): Record<string, { ns: number; sleeps: number }> => {
  const out: Record<string, { ns: number; sleeps: number }> = {}
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      const dir = `/proc/${process.pid}/task/${tid}`
      const name = Number(tid) === process.pid ? "main" : readFileSync(`${dir}/comm`, "utf8").trim()
      const ns = Number(readFileSync(`${dir}/schedstat`, "utf8").split(" ")[0])
      const sleeps = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`${dir}/status`, "utf8"))![1])
      const entry = out[name] ?? { ns: 0, sleeps: 0 }
      out[name] = { ns: entry.ns + ns, sleeps: entry.sleeps + sleeps }
    } catch {}
  }
  return out
}

// Frames each way, counted on every `Worker` (the parent's side of each thread's channel).
let framesOut = 0
let framesIn = 0
const { postMessage, emit } = Worker.prototype
Worker.prototype.postMessage = function (this: Worker, ...rest: Parameters<Worker["postMessage"]>) {
  framesOut++
  return postMessage.apply(this, rest)
}
Worker.prototype.emit = function (this: Worker, event: string | symbol, ...rest: Array<unknown>) {
  if (event === "message") framesIn++
  return emit.call(this, event, ...rest)
}

const { make } = (await import(`./contenders/${args.contender}.ts`)) as {
  make: () => {
    start(size: number): Promise<void>
    run(n: number): Promise<number>
    runMany?(ns: ReadonlyArray<number>, inFlight: number): Promise<ReadonlyArray<number>>
    close(): Promise<void>
  }
}
const contender = make()
await contender.start(2)
/** `inFlight` tasks at a time: the contender's own idiom, or (`--perCall`, or none) one `run` Promise per task. */
const runMany = async (ns: ReadonlyArray<number>, inFlight: number): Promise<unknown> => {
  if (contender.runMany !== undefined && !args.perCall) return contender.runMany(ns, inFlight)
  if (inFlight >= ns.length) return Promise.all(ns.map((n) => contender.run(n)))
  let next = 0
  const lane = async () => {
    while (next < ns.length) await contender.run(ns[next++]!)
  }
  return Promise.all(Array.from({ length: Math.min(inFlight, ns.length) }, lane))
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
const tasks = Number(args.tasks)
await runMany(range(Number(args.warmup)), 64)
await runMany(range(Number(args.warmup)), Number(args.warmup))
for (let rep = 0; rep < Number(args.reps); rep++) {
  for (const [probe, inFlight] of [
    ["tput64", 64],
    ["tputAll", tasks]
  ] as const) {
    if (!args.probes.split(",").includes(probe)) continue
    const before = threads()
    const [out0, in0] = [framesOut, framesIn]
    const t0 = performance.now()
    await runMany(range(tasks), inFlight)
    const wall = performance.now() - t0
    const after = threads()
    const cpu: Record<string, number> = {}
    const sleeps: Record<string, number> = {}
    let total = 0
    for (const [name, { ns, sleeps: s }] of Object.entries(after)) {
      const d = ns - (before[name]?.ns ?? 0)
      if (d <= 0) continue
      total += d
      cpu[name] = Math.round(d / tasks / 100) / 10
      const ds = s - (before[name]?.sleeps ?? 0)
      if (ds > 0) sleeps[name] = Math.round((ds / tasks) * 1000) / 1000
    }
    console.log(
      JSON.stringify({
        contender: args.contender,
        probe,
        rep,
        perSecond: Math.round((tasks / wall) * 1000),
        cpuUs: Math.round(total / tasks / 100) / 10,
        cpu,
        sleeps,
        framesOut: Math.round(((framesOut - out0) / tasks) * 1000) / 1000,
        framesIn: Math.round(((framesIn - in0) / tasks) * 1000) / 1000,
        load: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0])
      })
    )
  }
}
await contender.close()
process.exit(0)
