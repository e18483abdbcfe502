/**
 * A quick interleaved A/B for the data path: `node ab.ts [--only
 * troupe-process,raw-fork-json] [--probes tput64,tputAll,latency] [--reps 5]
 * [--tasks 5000]`. Each repetition runs every contender once (the order
 * rotates), each in a fresh `measure.ts` process running all the probes;
 * it prints the medians and, per repetition, each contender's ratio to the
 * first baseline present (`raw-fork-json`, else the last contender), then the
 * median of those same-run ratios. Meant for a loaded machine: compare ratios,
 * not absolute figures.
 */
import { spawnSync } from "node:child_process"
import { parseArgs } from "node:util"
import { type Config, measureArguments } from "./measure.ts"

const { values: args } = parseArgs({
  options: {
    only: { type: "string", default: "troupe-process,raw-fork-json" },
    probes: { type: "string", default: "tput64,tputAll,latency" },
    reps: { type: "string", default: "5" },
    tasks: { type: "string", default: "5000" },
    warmup: { type: "string", default: "20000" }
  }
})

const contenders = args.only.split(",")
const baseline = contenders.includes("raw-fork-json") ? "raw-fork-json" : contenders.at(-1)!
const reps = Number(args.reps)
const config: Config = {
  tasks: Number(args.tasks),
  warmup: Number(args.warmup),
  latencyTasks: 1000,
  cpuTasks: 8,
  cpuIterations: 1_000_000,
  cpuRounds: 1,
  cpuSettleMs: 100,
  crashTasks: 200,
  crashDeadlineMs: 3000,
  idleWaitMs: 200,
  servedAfterMs: 2000,
  restartBoundMs: 3000,
  closeTimeoutMs: 2000
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

type Values = Record<string, number>
const samples: Record<string, Array<Values>> = {}
const ratios: Record<string, Record<string, Array<number>>> = {}

for (let rep = 0; rep < reps; rep++) {
  const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]!)
  const run: Record<string, Values> = {}
  for (const contender of order) {
    const out = spawnSync(process.execPath, measureArguments(contender, args.probes, config), {
      encoding: "utf8",
      timeout: 120_000
    })
    const values: Values = {}
    for (const line of out.stdout.split("\n")) {
      if (line.startsWith("@@result ")) Object.assign(values, JSON.parse(line.slice(9)).values)
      else if (line.startsWith("@@error ")) console.log(`${contender}: ${line}`)
    }
    run[contender] = values
    samples[contender] ??= []
    samples[contender].push(values)
    console.log(
      `rep ${rep + 1} ${contender}: ${JSON.stringify(values, (_, v) => (typeof v === "number" ? Math.round(v) : v))}`
    )
  }
  for (const contender of contenders) {
    if (contender === baseline) continue
    for (const [key, value] of Object.entries(run[contender] ?? {})) {
      const base = run[baseline]?.[key]
      if (base === undefined || base === 0) continue
      ratios[contender] ??= {}
      ratios[contender][key] ??= []
      ratios[contender][key].push(value / base)
    }
  }
}

console.log("\nmedians")
for (const contender of contenders) {
  const keys = Object.keys(samples[contender]?.[0] ?? {}).filter((k) => !k.startsWith("close"))
  const line = keys.map((key) => `${key}=${Math.round(median(samples[contender]!.map((v) => v[key] ?? Number.NaN)))}`)
  console.log(`  ${contender}: ${line.join(" ")}`)
}
console.log(`same-run ratios vs ${baseline} (median of ${reps})`)
for (const [contender, byKey] of Object.entries(ratios)) {
  const line = Object.entries(byKey).map(([key, xs]) => `${key}=${median(xs).toFixed(2)}x`)
  console.log(`  ${contender}: ${line.join(" ")}`)
}
