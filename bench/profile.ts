/**
 * Profiles Troupe once: runs a probe (the 64-in-flight throughput probe
 * unless `--probe latency`) for `troupe-process` with `node --cpu-prof` in the parent (the pool's workers
 * inherit the flag, so each child writes its own profile when it exits),
 * then sums self time by function and file in the parent and in the
 * children, and writes the tables into bench/PROFILE.md between the
 * `<!-- profile:start -->` and `<!-- profile:end -->` markers.
 * `node profile.ts [--contender troupe-process] [--probe tput64|latency] [--tasks 20000] [--interval 1000] [--doc PROFILE.md]`
 * (`--interval`: the sampling interval in microseconds, Node's default 1000).
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { table } from "./markdown.ts"
import type { Config } from "./measure.ts"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface Profile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: CallFrame }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const { values: args } = parseArgs({
  options: {
    contender: { type: "string", default: "troupe-process" },
    probe: { type: "string", default: "tput64" },
    tasks: { type: "string", default: "20000" },
    interval: { type: "string", default: "1000" },
    doc: { type: "string" }
  }
})

const shortUrl = (url: string): string =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\//, "")
    .replace(/^.*\/work\/main\//, "")
    .replace(/^.*\/troupe-bundles\//, "bundle:")

const bundleLines = new Map<string, Array<string>>()

/** An anonymous function in a bundle is named by the start of its source line (bundles change with every build). */
const bundleSnippet = (frame: CallFrame): string => {
  const path = frame.url.replace(/^file:\/\//, "")
  if (!path.includes("troupe-bundles") || !existsSync(path)) return "(anonymous)"
  if (!bundleLines.has(path)) bundleLines.set(path, readFileSync(path, "utf8").split("\n"))
  const line = bundleLines.get(path)![frame.lineNumber]?.trim() ?? ""
  return `(anonymous: ${line.slice(0, 50)})`
}

/** Self time in ms by "function file:line", over any number of profiles. */
const selfTimes = (profiles: ReadonlyArray<Profile>): Map<string, number> => {
  const totals = new Map<string, number>()
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
    profile.samples.forEach((id, i) => {
      const frame = byId.get(id)!
      const name =
        frame.url === ""
          ? frame.functionName
          : `${frame.functionName || bundleSnippet(frame)} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      totals.set(name, (totals.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
    })
  }
  return totals
}

/** The same self times summed by where the code lives: a package, a source file of this repo, or the runtime. */
const byPlace = (totals: Map<string, number>): Map<string, number> => {
  const places = new Map<string, number>()
  for (const [name, ms] of totals) {
    if (name === "(idle)") continue
    const location = name.split(" ").at(-1) ?? ""
    const place = !location.includes(":")
      ? "native, GC and runtime (no JS location)"
      : location.startsWith("node:")
        ? "Node internals (node:*)"
        : location.startsWith("bundle:")
          ? "the child's bundle (effect + Troupe runner + tasks)"
          : location.startsWith("packages/")
            ? location.split(":")[0]!.replace(/^(packages\/[^/]+\/src\/).*$/, "$1")
            : location.startsWith("@") || !location.includes("/")
              ? location.split("/").slice(0, 2).join("/")
              : /^(bench|packages)\//.test(location)
                ? location.split(":")[0]!
                : location.split("/")[0]!
    places.set(place, (places.get(place) ?? 0) + ms)
  }
  return places
}

const top = (totals: Map<string, number>, count: number): string => {
  const all = [...totals.values()].reduce((a, b) => a + b, 0)
  const busy = [...totals].filter(([name]) => name !== "(idle)").reduce((a, [, ms]) => a + ms, 0)
  const rows = [...totals]
    .filter(([name]) => name !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => [`\`${name.replaceAll("|", "\\|")}\``, ms.toFixed(1), `${((100 * ms) / busy).toFixed(1)}%`])
  return [
    `Sampled ${all.toFixed(0)} ms, of which ${busy.toFixed(0)} ms not idle.`,
    "",
    table(["function and location (by self time)", "self ms", "% of non-idle"], rows)
  ].join("\n")
}

const places = (totals: Map<string, number>): string => {
  const grouped = byPlace(totals)
  const busy = [...grouped.values()].reduce((a, b) => a + b, 0)
  const rows = [...grouped]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([place, ms]) => [place, ms.toFixed(1), `${((100 * ms) / busy).toFixed(1)}%`])
  return table(["place", "self ms", "% of non-idle"], rows)
}

const dir = new URL(`./profiles/${new Date().toISOString().replaceAll(":", "-")}/`, import.meta.url).pathname
mkdirSync(dir, { recursive: true })
const config: Config = {
  tasks: Number(args.tasks),
  warmup: 20_000,
  latencyTasks: args.probe === "latency" ? Number(args.tasks) : 0,
  cpuTasks: 0,
  cpuIterations: 0,
  cpuRounds: 0,
  cpuSettleMs: 0,
  crashTasks: 0,
  crashDeadlineMs: 0,
  idleWaitMs: 0,
  servedAfterMs: 0,
  restartBoundMs: 0,
  closeTimeoutMs: 5000
}
const run = spawnSync(
  process.execPath,
  [
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-interval=${args.interval}`,
    new URL("./measure.ts", import.meta.url).pathname,
    "--contender",
    args.contender!,
    "--probe",
    args.probe,
    "--config",
    JSON.stringify(config)
  ],
  { encoding: "utf8", timeout: 120_000 }
)
const parentPid = run.pid
console.log(run.stdout.trim())
const files = readdirSync(dir).filter((file) => file.endsWith(".cpuprofile"))
const load = (file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile
const parent = files.filter((file) => file.includes(`.${parentPid}.`))
const children = files.filter((file) => !file.includes(`.${parentPid}.`))
const result = JSON.parse(
  run.stdout
    .split("\n")
    .find((line) => line.startsWith("@@result "))
    ?.slice(9) ?? "{}"
)
const section = [
  "<!-- profile:start -->",
  "",
  `Run: \`node --cpu-prof measure.ts --contender ${args.contender} --probe ${args.probe}\`, ${config.tasks.toLocaleString("en-US")} tasks ` +
    `${args.probe === "latency" ? "one at a time" : "at 64 in flight"} ` +
    `after ${config.warmup.toLocaleString("en-US")} warm-up tasks; ${new Date().toISOString()}, Node ${process.version}; ` +
    `under the profiler: ${JSON.stringify(result.values ?? {})}. ` +
    `Profiles: ${parent.length} parent, ${children.length} child (summed). The whole run is sampled, start-up and shutdown included.`,
  "",
  "### Parent: top self time",
  "",
  parent.length > 0 ? top(selfTimes(parent.map(load)), 15) : "No parent profile was written.",
  "",
  "By place:",
  "",
  parent.length > 0 ? places(selfTimes(parent.map(load))) : "",
  "",
  "### Children: top self time (all workers together)",
  "",
  children.length > 0 ? top(selfTimes(children.map(load)), 15) : "No child profile was written.",
  "",
  "By place:",
  "",
  children.length > 0 ? places(selfTimes(children.map(load))) : "",
  "",
  "<!-- profile:end -->"
].join("\n")
const doc = args.doc ?? new URL("./PROFILE.md", import.meta.url).pathname
const text = existsSync(doc) ? readFileSync(doc, "utf8") : "# Profile\n\n<!-- profile:start -->\n<!-- profile:end -->\n"
const from = text.indexOf("<!-- profile:start -->")
const to = text.indexOf("<!-- profile:end -->")
writeFileSync(doc, text.slice(0, from) + section + text.slice(to + "<!-- profile:end -->".length))
console.log(section)
