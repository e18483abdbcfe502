/**
 * CPU per task one at a time, parent and workers apart (issue 16's latency
 * probe, `latencyShort`): `node --import ./distHooks.mjs latencyCpu.ts
 * --contender troupe-process [--warmup 200] [--tasks 1000] [--rounds 1]`.
 *
 * Starts a pool of 2, runs `warmup` tasks one at a time, then `rounds` times
 * `tasks` tasks one at a time (`await contender.run(n)`, as the probe does),
 * and prints per round the wall p50 and the on-CPU nanoseconds each thread of
 * the parent and of the workers spent per task, read from
 * `/proc/<pid>/task/<tid>/schedstat` (time spent waiting for a core does not
 * count, so the figure holds still on a loaded machine). Each round also
 * prints its window on the monotonic clock (`process.hrtime`, µs), which is
 * the clock of `--cpu-prof` profiles: `--analyze <dir> --from <µs> --to <µs>`
 * sums the self time by function of every `.cpuprofile` in `dir` within the
 * window (run the measurement with `node --cpu-prof --cpu-prof-dir=<dir>`;
 * the pool's workers inherit the flag and write their profiles as they exit).
 * `--wrap <executable>` forks every worker through `executable` instead of
 * Node (a script that runs Node under `valgrind --tool=callgrind`, for
 * instruction counts of the workers: the difference of two runs with
 * different `--tasks`, divided by the difference, is the count per task).
 */
import { readdirSync, readFileSync } from "node:fs"
import { createRequire, syncBuiltinESMExports } from "node:module"
import { join } from "node:path"
import { parseArgs } from "node:util"
import type { Contender } from "./contenders/types.ts"

const { values: args } = parseArgs({
  options: {
    contender: { type: "string", default: "troupe-process" },
    tasks: { type: "string", default: "1000" },
    warmup: { type: "string", default: "200" },
    rounds: { type: "string", default: "1" },
    analyze: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    top: { type: "string", default: "25" },
    /** Start every forked worker through this executable (e.g. a script that runs node under callgrind). */
    wrap: { type: "string" }
  }
})

if (args.wrap !== undefined) {
  // Patched before the contender loads: its `fork` (an ESM named import) sees the patched export.
  const childProcess = createRequire(import.meta.url)("node:child_process")
  const fork = childProcess.fork
  const wrap = args.wrap
  childProcess.fork = (module: string, argv: Array<string>, options: Record<string, unknown>) =>
    fork(module, argv, { ...options, execPath: wrap })
  syncBuiltinESMExports()
}

interface Profile {
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  }>
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const short = (url: string): string => url.replace(/^file:\/\//, "").replace(/^.*\/(node_modules|troupe)[^/]*\//, "")

/** Self time (µs) by function within [from, to] of one profile; `total`: every sample in the window. */
const selfTimes = (profile: Profile, from: number, to: number) => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const totals = new Map<string, number>()
  let at = profile.startTime
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (at < from || at > to) continue
    const frame = byId.get(profile.samples[i]!)!
    const name =
      frame.url === "" ? frame.functionName : `${frame.functionName} ${short(frame.url)}:${frame.lineNumber + 1}`
    totals.set(name, (totals.get(name) ?? 0) + delta)
    total += delta
  }
  return { totals, total }
}

if (args.analyze !== undefined) {
  const from = Number(args.from)
  const to = Number(args.to)
  for (const file of readdirSync(args.analyze).filter((f) => f.endsWith(".cpuprofile"))) {
    const { total, totals } = selfTimes(JSON.parse(readFileSync(join(args.analyze, file), "utf8")), from, to)
    const busy = total - (totals.get("(idle)") ?? 0)
    console.log(`\n${file}: ${(total / 1000).toFixed(0)} ms in the window, ${(busy / 1000).toFixed(0)} ms not idle`)
    for (const [name, us] of [...totals]
      .filter(([n]) => n !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(args.top)))
      console.log(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(7)} ms  ${name}`)
  }
  process.exit(0)
}

/** On-CPU nanoseconds of each thread of `pid`: the main thread, and the rest together. */
const threads = (pid: number): { main: number; other: number } => {
  let main = 0
  let other = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
      if (Number(tid) === pid) main += ns
      else other += ns
    } catch {}
  }
  return { main, other }
}

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const { make } = (await import(`./contenders/${args.contender}.ts`)) as { make: () => Contender }
const contender = make()
await contender.start(2)
const warmup = Number(args.warmup)
for (let i = 0; i < warmup; i++) await contender.run(i)
const workers = [...(await contender.pids())].filter((pid) => pid !== process.pid)
const tasks = Number(args.tasks)
const micros = () => Number(process.hrtime.bigint() / 1000n)
for (let round = 0; round < Number(args.rounds); round++) {
  const parent0 = threads(process.pid)
  const workers0 = workers.map(threads)
  const from = micros()
  const samples: Array<number> = new Array(tasks)
  for (let i = 0; i < tasks; i++) {
    const t0 = performance.now()
    const result = await contender.run(i)
    samples[i] = (performance.now() - t0) * 1000
    if (result !== i * i) throw new Error(`wrong result ${result}`)
  }
  const to = micros()
  const parent1 = threads(process.pid)
  const workers1 = workers.map(threads)
  const per = (ns: number) => Math.round(ns / tasks / 100) / 10
  let workerMain = 0
  let workerOther = 0
  for (let i = 0; i < workers.length; i++) {
    workerMain += workers1[i]!.main - workers0[i]!.main
    workerOther += workers1[i]!.other - workers0[i]!.other
  }
  samples.sort((a, b) => a - b)
  console.log(
    JSON.stringify({
      contender: args.contender,
      round: round + 1,
      p50Us: Math.round(quantile(samples, 0.5)),
      p99Us: Math.round(quantile(samples, 0.99)),
      parentMainUs: per(parent1.main - parent0.main),
      parentOtherUs: per(parent1.other - parent0.other),
      workersMainUs: per(workerMain),
      workersOtherUs: per(workerOther),
      window: [from, to],
      parentPid: process.pid
    })
  )
}
await contender.close()
process.exit(0)
