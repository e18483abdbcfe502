/**
 * Draws the benchmark chart from a results report (latest.json) as a
 * hand-written SVG: one panel per headline measurement, one bar per
 * contender at its median, a whisker from min to max.
 * `node chart.ts [results.json] [out.svg]` redraws it without a run.
 */
import { readFileSync, writeFileSync } from "node:fs"
import type { Results } from "./stats.ts"

interface Report {
  readonly node: string
  readonly date: string
  readonly mode: string
  readonly repetitions: number
  readonly results: Results
}

const panels = [
  { key: "tasksPerSecWindow64", title: "Tiny tasks/s, 64 in flight (higher is better)" },
  { key: "tasksPerSecAllAtOnce", title: "Tiny tasks/s, all submitted at once (higher is better)" },
  { key: "latencyP50Us", title: "Latency p50, µs, one in flight (lower is better)" },
  { key: "cpuSpeedup", title: "CPU-bound speedup, 2 workers vs 1 (higher is better)" },
  { key: "startMs", title: "Start to first result, ms (lower is better)" },
  { key: "restartMs", title: "Crash to replacement serving, ms (lower is better)" }
] as const

const escapeXml = (s: string): string => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

const format = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n >= 10 ? n.toFixed(1) : n.toFixed(2)

const colour = (contender: string): string =>
  contender.startsWith("troupe") ? "#d9480f" : contender.startsWith("raw-") ? "#868e96" : "#1c7ed6"

const panelWidth = 480
const labelWidth = 130
const barSpace = 270
const rowHeight = 18

const panel = (report: Report, key: string, title: string, x: number, y: number, names: Array<string>): string => {
  const rows = names.filter((name) => report.results[name]?.[key] !== undefined)
  const top = Math.max(...rows.map((name) => report.results[name]![key]!.max), 1e-9)
  const scale = barSpace / top
  const parts = [`<text x="${x}" y="${y + 14}" font-weight="bold">${escapeXml(title)}</text>`]
  names.forEach((name, i) => {
    const rowY = y + 26 + i * rowHeight
    parts.push(`<text x="${x + labelWidth - 6}" y="${rowY + 12}" text-anchor="end">${escapeXml(name)}</text>`)
    const summary = report.results[name]?.[key]
    if (summary === undefined) {
      parts.push(`<text x="${x + labelWidth + 4}" y="${rowY + 12}" fill="#868e96">not measured</text>`)
      return
    }
    const width = Math.max(1, summary.median * scale)
    const x0 = x + labelWidth
    parts.push(`<rect x="${x0}" y="${rowY + 3}" width="${width.toFixed(1)}" height="11" fill="${colour(name)}"/>`)
    const lo = x0 + summary.min * scale
    const hi = x0 + summary.max * scale
    parts.push(
      `<line x1="${lo.toFixed(1)}" x2="${hi.toFixed(1)}" y1="${rowY + 8.5}" y2="${rowY + 8.5}" stroke="#212529"/>`,
      `<line x1="${lo.toFixed(1)}" x2="${lo.toFixed(1)}" y1="${rowY + 5}" y2="${rowY + 12}" stroke="#212529"/>`,
      `<line x1="${hi.toFixed(1)}" x2="${hi.toFixed(1)}" y1="${rowY + 5}" y2="${rowY + 12}" stroke="#212529"/>`,
      `<text x="${(Math.max(hi, x0 + width) + 5).toFixed(1)}" y="${rowY + 12}">${format(summary.median)}</text>`
    )
  })
  return parts.join("\n")
}

export const renderChart = (report: Report): string => {
  const names = Object.keys(report.results)
  const panelHeight = 40 + names.length * rowHeight
  const width = 2 * panelWidth + 40
  const height = 60 + Math.ceil(panels.length / 2) * panelHeight + 20
  const body = panels.map((p, i) =>
    panel(report, p.key, p.title, 20 + (i % 2) * (panelWidth + 10), 50 + Math.floor(i / 2) * panelHeight, names)
  )
  const subtitle = `Node ${report.node}, ${report.date.slice(0, 10)}, ${report.mode} run, median of ${report.repetitions}; whiskers: min to max. Orange: Troupe, grey: raw baselines, blue: other pools.`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">
<title>Troupe benchmark: ${escapeXml(subtitle)}</title>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="20" y="24" font-size="15" font-weight="bold">Troupe benchmark: pools of 2 workers</text>
<text x="20" y="40" fill="#495057">${escapeXml(subtitle)}</text>
${body.join("\n")}
</svg>
`
}

export const writeChart = (report: Report, path: string): void => writeFileSync(path, renderChart(report))

if (import.meta.main) {
  const input = process.argv[2] ?? new URL("./results/latest.json", import.meta.url).pathname
  const output = process.argv[3] ?? new URL("../docs/benchmarks.svg", import.meta.url).pathname
  writeChart(JSON.parse(readFileSync(input, "utf8")) as Report, output)
}
