/**
 * JavaScript function calls per task, in the parent and in the workers
 * (issue 16): a measure of the work on a task's path that does not depend
 * on the machine's load. `node bench/callCount.ts [--only a,b] [--tasks 2000]
 * [--warmup 200] [--top 0]`. Needs `npm run build` (it loads `dist/`).
 *
 * For each contender it runs, in fresh processes with Node's precise
 * coverage on (`NODE_V8_COVERAGE`: every process and worker thread counts
 * the calls of each function and writes them when it exits), a pool of 2,
 * the warm-up, then one burst of `tasks` at once (one Promise each, as the
 * first-task probes make them), and again with three times the tasks. The
 * difference of the two runs, divided by the extra tasks, is what one task
 * costs: start-up, warm-up and shutdown cancel out. Counts are by package
 * (`troupe-core`, `troupe-node`, `effect`, Node's own `node:` modules, a
 * worker's bundle). In the first burst most of this code still runs in
 * V8's interpreter or baseline tier, where each call and property load
 * costs what it says; fewer calls is less to interpret and to compile.
 * `--top N` lists the N functions called most per task in each place.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { distRunArguments } from "./measure.ts"

const { values: args } = parseArgs({
  options: {
    only: {
      type: "string",
      default: "raw-fork-json,troupe-promise-process,troupe-process,raw-thread,troupe-promise-thread,troupe-thread"
    },
    tasks: { type: "string", default: "2000" },
    warmup: { type: "string", default: "200" },
    top: { type: "string", default: "0" },
    /** Internal: run one measurement in this process. */
    run: { type: "string" }
  }
})

if (args.run !== undefined) {
  const { make } = (await import(`./contenders/${args.run}.ts`)) as {
    make: () => import("./contenders/types.ts").Contender
  }
  const contender = make()
  await contender.start(2)
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i)
  let next = 0
  const warmup = range(1, Number(args.warmup))
  const lane = async () => {
    while (next < warmup.length) await contender.run(warmup[next++]!)
  }
  await Promise.all(Array.from({ length: 64 }, lane))
  const results = await Promise.all(range(1, Number(args.tasks)).map((n) => contender.run(n)))
  if (results[2] !== 9) throw new Error(`wrong result: ${results[2]}`)
  await contender.close()
  process.exit(0)
}

type Counts = Map<string, number>
/** Calls by `place` (parent, workers) then by `package` or function, from one run's coverage files. */
interface Run {
  readonly byPackage: Record<string, Record<string, number>>
  readonly byFunction: Record<string, Counts>
}

const packageOf = (url: string): string =>
  url.includes("/effect/dist/")
    ? "effect"
    : url.includes("/core/dist/")
      ? "troupe-core"
      : url.includes("/node/dist/")
        ? "troupe-node"
        : url.includes("/troupe/child-") || url.includes("troupe-bundles")
          ? "worker bundle"
          : url.startsWith("node:")
            ? "node"
            : url.includes("/bench/")
              ? "bench"
              : "other"

const measure = (contender: string, tasks: number): Run => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-calls-"))
  try {
    const out = spawnSync(
      process.execPath,
      distRunArguments(
        import.meta.url,
        contender,
        ["--tasks", String(tasks), "--warmup", args.warmup],
        process.execArgv
      ),
      { encoding: "utf8", env: { ...process.env, NODE_V8_COVERAGE: dir }, timeout: 120_000 }
    )
    if (out.status !== 0) throw new Error(`${contender}: exit ${out.status} ${out.stderr.slice(-500)}`)
    const byPackage: Run["byPackage"] = {}
    const byFunction: Run["byFunction"] = {}
    // coverage-<pid>-<time>-<threadId>.json: the measuring process's main thread is the parent; every other
    // process or thread is a worker (a raw pool's or Troupe's), summed.
    for (const file of readdirSync(dir)) {
      const [, pid, , thread] = file.replace(/\.json$/, "").split("-")
      const place = Number(pid) === out.pid && thread === "0" ? "parent" : "workers"
      const { result } = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
        result: Array<{
          url: string
          functions: Array<{ functionName: string; ranges: Array<{ startOffset: number; count: number }> }>
        }>
      }
      const packages = byPackage[place] ?? {}
      const functions = byFunction[place] ?? new Map()
      byPackage[place] = packages
      byFunction[place] = functions
      for (const script of result) {
        const pkg = packageOf(script.url)
        const short = script.url.replace(/^.*\/(node_modules|packages)\//, "").replace(/^.*\/troupe\//, "")
        for (const fn of script.functions) {
          const count = fn.ranges[0]!.count
          if (count === 0) continue
          packages[pkg] = (packages[pkg] ?? 0) + count
          const key = `${fn.functionName || "(anonymous)"} ${short}@${fn.ranges[0]!.startOffset}`
          functions.set(key, (functions.get(key) ?? 0) + count)
        }
      }
    }
    return { byPackage, byFunction }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const tasks = Number(args.tasks)
const round = (x: number) => Math.round(x * 10) / 10
for (const contender of args.only.split(",")) {
  const small = measure(contender, tasks)
  const large = measure(contender, 3 * tasks)
  const extra = 2 * tasks
  const line: Array<string> = []
  for (const place of ["parent", "workers"]) {
    const a = small.byPackage[place] ?? {}
    const b = large.byPackage[place] ?? {}
    const perTask: Record<string, number> = {}
    let total = 0
    for (const pkg of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const calls = ((b[pkg] ?? 0) - (a[pkg] ?? 0)) / extra
      total += calls
      if (Math.abs(calls) >= 0.5) perTask[pkg] = round(calls)
    }
    // A negative count is something the smaller run did once and the larger did not (a late module load): noise.
    const noisy = Object.values(perTask).some((calls) => calls < 0) ? " (a negative package: rerun)" : ""
    line.push(`${place} ${round(total)} ${JSON.stringify(perTask)}${noisy}`)
  }
  console.log(`${contender}: JS calls per task: ${line.join("; ")}`)
  const top = Number(args.top)
  if (top > 0) {
    for (const place of ["parent", "workers"]) {
      const a = small.byFunction[place] ?? new Map()
      const b = large.byFunction[place] ?? new Map()
      const rows = [...b].map(([key, n]) => [key, (n - (a.get(key) ?? 0)) / extra] as const)
      rows.sort((x, y) => y[1] - x[1])
      console.log(`  ${place}, most called per task:`)
      for (const [key, calls] of rows.slice(0, top)) console.log(`  ${calls.toFixed(2).padStart(8)} ${key}`)
    }
  }
}
