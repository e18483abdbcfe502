/**
 * Writes the generated part of docs/benchmarks.md (between the
 * `<!-- bench:results:start -->` and `<!-- bench:results:end -->` markers)
 * from a results report: medians, ranges, crash counts, ratios against the
 * baselines, the issue's targets, and what could not be measured.
 * `node report.ts [results.json] [benchmarks.md]` rewrites it without a run.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { table } from "./markdown.ts"
import type { Results, Summary, Target } from "./stats.ts"

interface Report {
  readonly node: string
  readonly date: string
  readonly mode: string
  readonly repetitions: number
  readonly totalRuntimeSeconds: number
  readonly config: { readonly cpuIterations: number; readonly tasks: number; readonly crashTasks: number }
  readonly results: Results
  readonly ratios: {
    readonly vsBaselines: Record<string, Record<string, Record<string, number>>>
    readonly targets: ReadonlyArray<Target>
  }
  readonly extras: Results
  readonly notes: ReadonlyArray<string>
}

const start = "<!-- bench:results:start -->"
const end = "<!-- bench:results:end -->"

const num = (n: number | undefined, digits?: number): string => {
  if (n === undefined) return "–"
  if (digits !== undefined) return n.toFixed(digits)
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n >= 10 ? n.toFixed(1) : n.toFixed(2)
}

const perf = [
  ["tasksPerSecAllAtOnce", "tasks/s all at once"],
  ["tasksPerSecWindow64", "tasks/s 64 in flight"],
  ["latencyP50Us", "p50 µs"],
  ["latencyP99Us", "p99 µs"],
  ["cpuSpeedup", "cpuSpeedup"],
  ["startMs", "startMs"],
  ["restartMs", "restartMs"],
  ["idleRssMb", "idleRssMb"]
] as const

const crash = ["crashResolved", "crashRejected", "crashInnocent", "crashHung", "crashServedAfter"] as const

const range = (s: Summary | undefined): string => (s === undefined ? "–" : `${num(s.min)}–${num(s.max)}`)

const crashCell = (s: Summary | undefined): string =>
  s === undefined ? "–" : s.min === s.max ? num(s.median, 0) : `${num(s.median, 0)} (${num(s.min, 0)}–${num(s.max, 0)})`

export const renderReport = (report: Report): string => {
  const names = Object.keys(report.results)
  const r = report.results
  const v = report.ratios.vsBaselines
  const ratioCols = [
    ["tasksPerSecWindow64", "raw-fork-json", "64 in flight ÷ fork json"],
    ["tasksPerSecWindow64", "raw-fork-advanced", "64 in flight ÷ fork advanced"],
    ["tasksPerSecWindow64", "raw-thread", "64 in flight ÷ raw thread"],
    ["tasksPerSecAllAtOnce", "raw-fork-json", "all at once ÷ fork json"],
    ["tasksPerSecAllAtOnce", "raw-thread", "all at once ÷ raw thread"],
    ["latencyP50Us", "raw-fork-json", "p50 ÷ fork json"],
    ["latencyP50Us", "raw-thread", "p50 ÷ raw thread"],
    ["startMs", "raw-fork-json", "start ÷ fork json"],
    ["restartMs", "raw-fork-json", "restart ÷ fork json start"],
    ["idleRssMb", "raw-fork-json", "idle RSS ÷ fork json"]
  ] as const
  // restartMs ÷ a baseline's startMs is not in vsBaselines (same-measurement ratios); compute it here.
  const cell = (name: string, measurement: string, baseline: string, label: string): string => {
    if (label.startsWith("restart")) {
      const a = r[name]?.restartMs?.median
      const b = r[baseline]?.startMs?.median
      return a === undefined || b === undefined ? "–" : `${num(a / b, 2)}×`
    }
    const x = v[name]?.[measurement]?.[baseline]
    return x === undefined ? "–" : `${num(x, 2)}×`
  }
  const minutes = (report.totalRuntimeSeconds / 60).toFixed(1)
  return [
    start,
    "",
    `Run: Node ${report.node}, ${report.date}, ${report.mode} mode, ${report.repetitions} repetitions, ` +
      `${minutes} min in total; ${report.config.tasks.toLocaleString("en-US")} throughput tasks, ` +
      `${report.config.crashTasks.toLocaleString("en-US")} crash tasks, ` +
      `${report.config.cpuIterations.toLocaleString("en-US")} loop iterations per CPU task.`,
    "",
    "![benchmark chart](benchmarks.svg)",
    "",
    "### Medians",
    "",
    table(
      ["contender", ...perf.map(([, label]) => label)],
      names.map((name) => [`\`${name}\``, ...perf.map(([key]) => num(r[name]?.[key]?.median))])
    ),
    "",
    "### Ranges (min–max over the repetitions)",
    "",
    table(
      ["contender", ...perf.map(([, label]) => label)],
      names.map((name) => [`\`${name}\``, ...perf.map(([key]) => range(r[name]?.[key]))])
    ),
    "",
    "### Crash recovery",
    "",
    `${report.config.crashTasks.toLocaleString("en-US")} tasks at once, every 50th exits its worker; median (min–max).`,
    "",
    table(
      ["contender", "resolved", "rejected", "innocent", "hung", "served after (of 10)"],
      names.map((name) => [`\`${name}\``, ...crash.map((key) => crashCell(r[name]?.[key]))])
    ),
    "",
    "### Ratios against the baselines",
    "",
    "Contender ÷ baseline, on medians of this run. Above 1 is better for tasks/s, below 1 is better for latency, start, restart and memory.",
    "",
    table(
      ["contender", ...ratioCols.map(([, , label]) => label)],
      names.map((name) => [`\`${name}\``, ...ratioCols.map(([m, b, label]) => cell(name, m, b, label))])
    ),
    "",
    "### Targets",
    "",
    "From the issue (★), and the same bars applied to the thread backend against `raw-thread` for information.",
    "",
    table(
      ["", "measure", "value", "target", "holds"],
      report.ratios.targets.map((t) => [
        t.issue ? "★" : "",
        t.name,
        t.value === undefined ? "" : num(t.value, 2),
        t.target,
        t.holds === undefined ? "not measured" : t.holds ? "yes" : "**no**"
      ])
    ),
    "",
    "### Not measured",
    "",
    report.notes.length === 0
      ? "Every measurement of every repetition completed."
      : report.notes.map((n) => `- ${n.replace(/\s+/g, " ")}`).join("\n"),
    "",
    end
  ].join("\n")
}

export const writeReport = (report: Report, path: string): void => {
  const section = renderReport(report)
  const doc = existsSync(path) ? readFileSync(path, "utf8") : `# Benchmarks\n\n${start}\n${end}\n`
  const from = doc.indexOf(start)
  const to = doc.indexOf(end)
  const next =
    from >= 0 && to > from ? doc.slice(0, from) + section + doc.slice(to + end.length) : `${doc}\n${section}\n`
  writeFileSync(path, next)
}

if (import.meta.main) {
  const input = process.argv[2] ?? new URL("./results/latest.json", import.meta.url).pathname
  const output = process.argv[3] ?? new URL("../docs/benchmarks.md", import.meta.url).pathname
  writeReport(JSON.parse(readFileSync(input, "utf8")) as Report, output)
}
