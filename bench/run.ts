/**
 * The benchmark orchestrator: `npm run bench` (full) or `npm run bench --
 * --quick`. For each repetition, for each probe, for each contender (the
 * order rotates every repetition), it runs `measure.ts` in a fresh Node
 * process under a hard timeout (quick mode: one process per contender and
 * repetition runs every probe, each on its own pool), then writes the medians, minima, maxima and
 * the same-run ratios to `results/latest.json` (quick: `results/quick.json`)
 * and regenerates the chart and the table in `docs/benchmarks.md`.
 *
 * Options: `--quick`, `--reps N`, `--only a,b` (contenders), `--probes a,b`,
 * `--out file`, `--no-docs`.
 *
 * Troupe runs as an installed copy runs it: from the compiled `dist/`
 * (`distHooks.mjs`; the root `npm run bench` builds first). From the
 * TypeScript sources, every worker would load Node's type stripper to run
 * its `.ts` entry, which an installed worker never does.
 */
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { writeChart } from "./chart.ts"
import { type Config, measureArguments, type Probe, probes } from "./measure.ts"
import { writeReport } from "./report.ts"
import { measurements, type Results, ratiosVsBaselines, summarize, targets } from "./stats.ts"
import { spin } from "./workers/work.mjs"

export const contenders = [
  "troupe-process",
  "troupe-thread",
  "raw-fork-json",
  "raw-fork-advanced",
  "raw-thread",
  "effect-rpc",
  "piscina",
  "tinypool-thread",
  "workerpool-process",
  "workerpool-thread",
  "poolifier-cluster",
  "poolifier-thread"
] as const

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    only: { type: "string" },
    probes: { type: "string" },
    out: { type: "string" },
    "no-docs": { type: "boolean", default: false }
  }
})

const quick = args.quick === true
const reps = Number(args.reps ?? (quick ? 3 : 5))

/** Iterations of `spin` that take about `ms` here (median of 7 timings after a warm-up). */
const calibrate = (ms: number): number => {
  const probe = 1_000_000
  for (let i = 0; i < 3; i++) spin(probe)
  const times = Array.from({ length: 7 }, () => {
    const t0 = performance.now()
    spin(probe)
    return performance.now() - t0
  }).sort((a, b) => a - b)
  return Math.round((probe * ms) / times[3]!)
}

const baseConfig = quick
  ? {
      tasks: 2000,
      warmup: 100,
      latencyTasks: 300,
      cpuTasks: 8,
      cpuRounds: 1,
      cpuSettleMs: 100,
      crashTasks: 150,
      crashDeadlineMs: 1500,
      idleWaitMs: 100,
      servedAfterMs: 1000,
      restartBoundMs: 3000,
      closeTimeoutMs: 1000
    }
  : {
      tasks: 20_000,
      // A pool's hot path reaches optimized code over its first tens of thousands of tasks (Troupe's did: about 8,000
      // tasks/s in its first 10,000, 60,000 or more after 40,000), so every contender runs 20,000 before it is timed.
      warmup: 20_000,
      latencyTasks: 3000,
      cpuTasks: 64,
      cpuRounds: 2,
      cpuSettleMs: 300,
      crashTasks: 1000,
      crashDeadlineMs: 8000,
      idleWaitMs: 1000,
      servedAfterMs: 5000,
      restartBoundMs: 15_000,
      closeTimeoutMs: 5000
    }
const config: Config = { ...baseConfig, cpuIterations: calibrate(20) }
const timeoutMs = quick ? 20_000 : 90_000

interface Outcome {
  readonly results: Array<{ readonly probe: string; readonly values: Record<string, number> }>
  readonly errors: Array<{ readonly probe: string; readonly error: string }>
}

let current: { pid: number; pids: Set<number> } | undefined

const kill = (pid: number): void => {
  try {
    process.kill(pid, "SIGKILL")
  } catch {}
}

/** Kills a measurement process's group (it is a group leader) and every worker it reported. */
const killAll = (leader: number, pids: Iterable<number>): void => {
  kill(-leader)
  for (const pid of pids) {
    kill(pid)
    kill(-pid)
  }
}

process.on("SIGINT", () => {
  if (current !== undefined) killAll(current.pid, current.pids)
  process.exit(130)
})

/** Runs `measure.ts` for one contender and one or more probes in a fresh Node process, under a hard timeout. */
const measureOnce = (contender: string, probeSet: ReadonlyArray<Probe>): Promise<Outcome> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, measureArguments(contender, probeSet.join(","), config, { dist: true }), {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const pids = new Set<number>()
    current = { pid: child.pid!, pids }
    const outcome: Outcome = { results: [], errors: [] }
    let stderr = ""
    let buffer = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk
      const lines = buffer.split("\n")
      buffer = lines.pop()!
      for (const line of lines) {
        if (line.startsWith("@@pids ")) for (const pid of JSON.parse(line.slice(7)) as Array<number>) pids.add(pid)
        else if (line.startsWith("@@result ")) outcome.results.push(JSON.parse(line.slice(9)))
        else if (line.startsWith("@@error ")) outcome.errors.push(JSON.parse(line.slice(8)))
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000)
    })
    const limit = timeoutMs * probeSet.length
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killAll(child.pid!, pids)
    }, limit)
    child.on("exit", (code) => {
      clearTimeout(timer)
      kill(-child.pid!)
      current = undefined
      const done = new Set([...outcome.results, ...outcome.errors].map((r) => r.probe))
      const why = timedOut
        ? `killed after the ${limit / 1000} s timeout`
        : `exited with ${code}: ${stderr.split("\n").find((line) => /\bError\b/.test(line)) ?? stderr.trim().split("\n").slice(-3).join(" | ")}`
      for (const probe of probeSet) if (!done.has(probe)) outcome.errors.push({ probe, error: why })
      resolve(outcome)
    })
  })

const only = args.only?.split(",") ?? [...contenders]
const probeList = (args.probes?.split(",") ?? [...probes]) as Array<Probe>
const samples: Record<string, Record<string, Array<number>>> = {}
const notes: Array<string> = []
const t0 = performance.now()

// Quick mode runs all probes of a contender in one process: start first, while the process is cold, and
// restart last, since a pool whose crash handling ends the parent process would take the later probes with it.
const quickOrder: Array<Probe> = ["start", "tputAll", "tput64", "latency", "cpu", "crash", "restart"]
const batches: Array<Array<Probe>> = quick
  ? [quickOrder.filter((p) => probeList.includes(p))]
  : probeList.map((probe) => [probe])

for (let rep = 0; rep < reps; rep++) {
  const order = only.map((_, i) => only[(i + rep) % only.length]!)
  for (const batch of batches) {
    for (const contender of order) {
      const started = performance.now()
      const outcome = await measureOnce(contender, batch)
      const took = ((performance.now() - started) / 1000).toFixed(1)
      for (const { probe, values } of outcome.results) {
        for (const [key, value] of Object.entries(values)) {
          samples[contender] ??= {}
          samples[contender][key] = [...(samples[contender][key] ?? []), value]
        }
        console.log(`rep ${rep + 1}/${reps} ${probe} ${contender}: ${JSON.stringify(values)}`)
      }
      for (const { probe, error } of outcome.errors) {
        const note = `rep ${rep + 1}: ${contender} ${probe}: ${error}`
        notes.push(note)
        console.log(note)
      }
      console.log(`  (${contender} ${batch.join(",")}: ${took} s)`)
    }
  }
}

const totalSeconds = (performance.now() - t0) / 1000
const results: Results = {}
const extras: Results = {}
for (const contender of only) {
  for (const [key, values] of Object.entries(samples[contender] ?? {})) {
    const target = (measurements as ReadonlyArray<string>).includes(key) ? results : extras
    target[contender] ??= {}
    target[contender][key] = summarize(values)
  }
}

const report = {
  node: process.version,
  date: new Date().toISOString(),
  mode: quick ? "quick" : "full",
  repetitions: reps,
  totalRuntimeSeconds: Math.round(totalSeconds),
  config,
  results,
  ratios: { vsBaselines: ratiosVsBaselines(results), targets: targets(results, config.crashTasks) },
  extras,
  notes
}
const resultsDir = new URL("./results/", import.meta.url)
mkdirSync(resultsDir, { recursive: true })
const out = args.out ?? new URL(quick ? "quick.json" : "latest.json", resultsDir).pathname
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)
console.log(`wrote ${out} in ${totalSeconds.toFixed(0)} s`)
if (!quick && args["no-docs"] !== true) {
  writeChart(report, new URL("../docs/benchmarks.svg", import.meta.url).pathname)
  writeReport(report, new URL("../docs/benchmarks.md", import.meta.url).pathname)
  console.log("regenerated docs/benchmarks.svg and docs/benchmarks.md")
} else {
  writeChart(report, new URL(quick ? "quick.svg" : "chart.svg", resultsDir).pathname)
}
