/**
 * Cold starts phase by phase, builds or settings alternated (issue 16):
 * `node bench/coldStart.ts [--only troupe-process,raw-fork-json] [--reps 9]
 * [--probe timeline|import] [--variant name=benchDir[,KEY=VALUE...]]... [--out file]`.
 *
 * Each repetition runs every variant and every contender once (both orders
 * rotate) in a fresh process: `coldTimeline.ts` (the phases of one cold
 * start and their CPU time) or `measure.ts --probe import` (the library's
 * import). A variant is a bench directory (its `distHooks.mjs` decides which
 * compiled `dist/` loads, so a copy of the bench beside an older `dist/` is
 * the "before" build) and environment variables for the measured process
 * and its workers (`NODE_COMPILE_CACHE=dir`, `NODE_DISABLE_COMPILE_CACHE=1`).
 * One unmeasured pass first fills the on-disk caches (worker bundles,
 * compile caches): a program's second start, as users see it.
 *
 * It prints the medians and the medians of same-repetition ratios: each
 * Troupe contender against its raw pool (piscina for imports) in the same
 * variant, and each variant against the first one for the same contender.
 * Meant for a loaded machine: the CPU figures hold there, wall time does not.
 */
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { summarize } from "./stats.ts"

const here = fileURLToPath(new URL(".", import.meta.url))

const { values: args } = parseArgs({
  options: {
    only: { type: "string", default: "troupe-process,raw-fork-json" },
    probe: { type: "string", default: "timeline" },
    reps: { type: "string", default: "9" },
    variant: { type: "string", multiple: true },
    out: { type: "string" }
  }
})

interface Variant {
  readonly name: string
  readonly dir: string
  readonly env: Record<string, string>
}

const variants: Array<Variant> = (args.variant ?? [`current=${here}`]).map((spec) => {
  const [head, ...settings] = spec.split(",")
  const [name, dir] = head!.split("=") as [string, string]
  return { name, dir: dir.endsWith("/") ? dir : `${dir}/`, env: Object.fromEntries(settings.map((s) => s.split("="))) }
})
const contenders = args.only.split(",")
const reps = Number(args.reps)
const probe = args.probe

type Values = Record<string, number>

interface Timeline {
  readonly harnessMs: number
  readonly harnessCpuMs: number
  readonly importedMs: number
  readonly importedCpuMs: number
  readonly startedMs: number
  readonly startedCpuMs: number
  readonly firstResultMs: number
  readonly parentCpuMs: number
  readonly childCpuMs: ReadonlyArray<number>
  readonly workers: ReadonlyArray<{ spawnMs: number; firstMessageMs?: number; bootCpuMs?: number }>
}

const median = (xs: ReadonlyArray<number>): number => summarize([...xs]).median

/** The phases of one cold start: each ends where the one before it ended. */
const phases = (t: Timeline): Values => {
  const spawned = Math.min(...t.workers.map((w) => w.spawnMs))
  const spoke = t.workers.map((w) => w.firstMessageMs).filter((x): x is number => x !== undefined)
  const firstSpoke = Math.min(...spoke)
  const boot = t.workers.map((w) => w.bootCpuMs).filter((x): x is number => x !== undefined)
  const childCpu = t.childCpuMs.reduce((a, b) => a + b, 0)
  return {
    coldMs: t.firstResultMs,
    harnessMs: t.harnessMs,
    importMs: t.importedMs - t.harnessMs,
    createdMs: t.startedMs - t.importedMs,
    toSpawnMs: spawned - t.importedMs,
    workerBootMs: median(
      t.workers.flatMap((w) => (w.firstMessageMs === undefined ? [] : [w.firstMessageMs - w.spawnMs]))
    ),
    firstSpokeToResultMs: t.firstResultMs - firstSpoke,
    parentCpuMs: t.parentCpuMs,
    // The parent's CPU by phase: its own start (Node and the harness), the library's import, creating the pool
    // (spawning included), and from there to the first result.
    parentStartCpuMs: t.harnessCpuMs,
    parentImportCpuMs: t.importedCpuMs - t.harnessCpuMs,
    parentCreateCpuMs: t.startedCpuMs - t.importedCpuMs,
    parentToResultCpuMs: t.parentCpuMs - t.startedCpuMs,
    childCpuMs: childCpu,
    totalCpuMs: t.parentCpuMs + childCpu,
    ...(boot.length > 0 ? { childBootCpuMs: median(boot) } : {})
  }
}

const run = (variant: Variant, contender: string): Values | string => {
  const script =
    probe === "import"
      ? [`${variant.dir}measure.ts`, "--contender", contender, "--probe", "import", "--config", "{}"]
      : [`${variant.dir}coldTimeline.ts`, "--contender", contender]
  const out = spawnSync(process.execPath, ["--expose-gc", "--import", `${variant.dir}distHooks.mjs`, ...script], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, ...variant.env }
  })
  for (const line of out.stdout.split("\n")) {
    if (line.startsWith("@@timeline ")) return phases(JSON.parse(line.slice(11)) as Timeline)
    if (line.startsWith("@@result ")) return JSON.parse(line.slice(9)).values as Values
  }
  return `exit ${out.status}: ${out.stderr.slice(-300)}`
}

const baselineOf = (contender: string): string | undefined =>
  probe === "import"
    ? contender === "piscina"
      ? undefined
      : "piscina"
    : contender.startsWith("troupe")
      ? contender.includes("thread")
        ? "raw-thread"
        : "raw-fork-json"
      : undefined

const samples: Record<string, Record<string, Array<number>>> = {}
const ratios: Record<string, Array<number>> = {}
const notes: Array<string> = []
const load: Array<number> = []
const add = (table: Record<string, Array<number>>, key: string, value: number) => {
  table[key] = [...(table[key] ?? []), value]
}

for (const variant of variants) for (const contender of contenders) run(variant, contender)

for (let rep = 0; rep < reps; rep++) {
  load.push(loadavg()[0]!)
  const byRun: Record<string, Values> = {}
  for (let v = 0; v < variants.length; v++) {
    const variant = variants[(v + rep) % variants.length]!
    for (let c = 0; c < contenders.length; c++) {
      const contender = contenders[(c + rep) % contenders.length]!
      const values = run(variant, contender)
      if (typeof values === "string") {
        notes.push(`rep ${rep + 1} ${variant.name} ${contender}: ${values}`)
        continue
      }
      byRun[`${variant.name} ${contender}`] = values
      samples[`${variant.name} ${contender}`] ??= {}
      for (const [key, value] of Object.entries(values)) add(samples[`${variant.name} ${contender}`]!, key, value)
      console.log(
        `rep ${rep + 1}/${reps} ${variant.name} ${contender}: ${Object.entries(values)
          .map(([k, x]) => `${k}=${x.toFixed(1)}`)
          .join(" ")}`
      )
    }
  }
  for (const variant of variants) {
    for (const contender of contenders) {
      const values = byRun[`${variant.name} ${contender}`]
      if (values === undefined) continue
      const baseline = baselineOf(contender)
      const base = baseline === undefined ? undefined : byRun[`${variant.name} ${baseline}`]
      const first = byRun[`${variants[0]!.name} ${contender}`]
      for (const [key, value] of Object.entries(values)) {
        const b = base?.[key]
        if (b !== undefined && b > 0) add(ratios, `${variant.name} ${contender} ${key} ÷ ${baseline}`, value / b)
        const f = first?.[key]
        if (variant !== variants[0] && f !== undefined && f > 0)
          add(ratios, `${variant.name} ÷ ${variants[0]!.name} ${contender} ${key}`, value / f)
      }
    }
  }
}

console.log("\nmedians")
for (const [name, byKey] of Object.entries(samples)) {
  console.log(
    `  ${name}: ${Object.entries(byKey)
      .map(([k, xs]) => `${k}=${median(xs).toFixed(1)}`)
      .join(" ")}`
  )
}
console.log(`same-run ratios (median, range; ${reps} repetitions)`)
for (const [name, xs] of Object.entries(ratios)) {
  console.log(`  ${name} = ${median(xs).toFixed(2)}x (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`)
}
console.log(`load (1-min average at each repetition): ${load.map((l) => l.toFixed(1)).join(", ")}`)
for (const note of notes) console.log(`note: ${note}`)
if (args.out !== undefined) {
  writeFileSync(
    args.out,
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), probe, variants, reps, load, samples, ratios, notes }, null, 2)}\n`
  )
}
