/**
 * The first-task probes (issue 16): what a program sees from its first task,
 * not after 20,000 warm-up tasks. `node bench/firstTask.ts [--only a,b]
 * [--probes import,cold,...] [--reps 5] [--out file]`. Needs `npm run build`:
 * every measurement process loads `@troupe/*` from the compiled `dist/`, as an
 * installed copy does (`distHooks.mjs`).
 *
 * Each repetition runs each probe for each contender (the order rotates) in a
 * fresh `measure.ts` process; it prints the medians and the medians of the
 * same-run ratios against `raw-fork-json`, `raw-thread` and `piscina` (the
 * import probe's baseline: raw pools import nothing), and writes them to
 * `results/first-task.json`. Meant for a loaded machine: compare ratios.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { parseArgs } from "node:util"
import { type Config, firstTaskProbes, measureArguments } from "./measure.ts"
import { summarize } from "./stats.ts"

const { values: args } = parseArgs({
  options: {
    only: { type: "string", default: "troupe-process,troupe-thread,raw-fork-json,raw-thread,piscina" },
    probes: { type: "string", default: firstTaskProbes.join(",") },
    reps: { type: "string", default: "5" },
    out: { type: "string" }
  }
})

const contenders = args.only.split(",")
const probeList = args.probes.split(",")
const reps = Number(args.reps)
/** The import probe compares with piscina (the raw pools import nothing); the rest, a backend with its raw pool. */
const baselineOf = (contender: string, key: string): string =>
  key === "importMs"
    ? "piscina"
    : contender.includes("thread") || contender === "piscina"
      ? "raw-thread"
      : "raw-fork-json"
/**
 * The Effect contenders (one `Effect.runPromiseWith` per call) are also compared with their raw pool called the
 * same way (`rawThroughEffect.ts`), when that contender runs: the part of the gap that is the fiber per call.
 */
const throughEffect: Record<string, string> = {
  "troupe-process": "raw-fork-effect",
  "troupe-thread": "raw-thread-effect"
}
const config: Config = {
  tasks: 0,
  warmup: 0,
  latencyTasks: 1000,
  cpuTasks: 0,
  cpuIterations: 0,
  cpuRounds: 0,
  cpuSettleMs: 0,
  crashTasks: 0,
  crashDeadlineMs: 0,
  idleWaitMs: 0,
  servedAfterMs: 0,
  restartBoundMs: 0,
  closeTimeoutMs: 3000,
  burstTasks: 2000,
  shortWarmup: 200,
  outsideTasks: 20_000
}

type Values = Record<string, number>
const samples: Record<string, Record<string, Array<number>>> = {}
const ratios: Record<string, Array<number>> = {}
const notes: Array<string> = []
const load: Array<number> = []

const measure = (contender: string, probe: string): Values => {
  const out = spawnSync(process.execPath, measureArguments(contender, probe, config, { dist: true }), {
    encoding: "utf8",
    timeout: 120_000
  })
  const values: Values = {}
  for (const line of out.stdout.split("\n")) {
    if (line.startsWith("@@result ")) Object.assign(values, JSON.parse(line.slice(9)).values)
    else if (line.startsWith("@@error ")) notes.push(`${contender} ${probe}: ${line.slice(8)}`)
  }
  if (out.status !== 0) notes.push(`${contender} ${probe}: exit ${out.status} ${out.stderr.slice(-300)}`)
  return values
}

for (let rep = 0; rep < reps; rep++) {
  load.push(loadavg()[0]!)
  const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]!)
  for (const probe of probeList) {
    const run: Record<string, Values> = {}
    // The import probe also times \`effect\`'s own modules that every Troupe program loads (the floor below Troupe's),
    // and the modules a program that only runs a pool imports (instead of the barrels).
    for (const contender of probe === "import" ? [...order, "effect-floor", "troupe-pool-only"] : order) {
      const values = measure(contender, probe)
      run[contender] = values
      for (const [key, value] of Object.entries(values)) {
        if (key.startsWith("close")) continue
        samples[contender] ??= {}
        samples[contender][key] = [...(samples[contender][key] ?? []), value]
      }
      console.log(
        `rep ${rep + 1}/${reps} ${probe} ${contender}: ${JSON.stringify(values, (_, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}`
      )
    }
    for (const contender of contenders) {
      for (const [key, value] of Object.entries(run[contender] ?? {})) {
        if (key === "importMs" && contender === "troupe-process") {
          for (const below of ["effect-floor", "troupe-pool-only"]) {
            const floor = run[below]?.importMs
            if (floor !== undefined)
              ratios[`troupe-process importMs ÷ ${below}`] = [
                ...(ratios[`troupe-process importMs ÷ ${below}`] ?? []),
                value / floor
              ]
          }
        }
        for (const baseline of [
          baselineOf(contender, key),
          key === "importMs" ? undefined : throughEffect[contender]
        ]) {
          const base = baseline === undefined ? undefined : run[baseline]?.[key]
          if (baseline === contender || base === undefined || base === 0 || key.startsWith("close")) continue
          const name = `${contender} ${key} ÷ ${baseline}`
          ratios[name] = [...(ratios[name] ?? []), value / base]
        }
      }
    }
  }
}

const medians = Object.fromEntries(
  Object.entries(samples).map(([contender, byKey]) => [
    contender,
    Object.fromEntries(Object.entries(byKey).map(([key, xs]) => [key, summarize(xs)]))
  ])
)
const ratioMedians = Object.fromEntries(Object.entries(ratios).map(([name, xs]) => [name, summarize(xs)]))
console.log("\nmedians")
for (const [contender, byKey] of Object.entries(medians)) {
  console.log(
    `  ${contender}: ${Object.entries(byKey)
      .map(([k, s]) => `${k}=${s.median.toFixed(1)}`)
      .join(" ")}`
  )
}
console.log(`same-run ratios (median of ${reps})`)
for (const [name, s] of Object.entries(ratioMedians)) console.log(`  ${name} = ${s.median.toFixed(2)}x`)
console.log(`load (1-min average at each repetition): ${load.map((l) => l.toFixed(1)).join(", ")}`)
for (const note of notes) console.log(`note: ${note}`)

const resultsDir = new URL("./results/", import.meta.url)
mkdirSync(resultsDir, { recursive: true })
const out = args.out ?? new URL("first-task.json", resultsDir).pathname
const report = {
  node: process.version,
  date: new Date().toISOString(),
  repetitions: reps,
  config,
  load,
  medians,
  ratios: ratioMedians,
  notes
}
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)
console.log(`wrote ${out}`)
