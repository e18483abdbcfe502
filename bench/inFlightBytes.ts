/**
 * Bytes of the parent's heap that one task holds while it is in flight
 * (issue 16): a measure of a call's footprint that does not depend on the
 * machine's load. `node bench/inFlightBytes.ts [--only a,b] [--tasks 20000]
 * [--sites 0]`. Needs `npm run build` (it loads `dist/`).
 *
 * For each contender, in a fresh process run with `--expose-gc`: a pool of
 * 2, three warm bursts of `tasks` at once, then a full collection, `tasks`
 * calls submitted in one synchronous loop (one Promise each, as the
 * first-task probes make them; no reply can arrive before the loop ends),
 * another full collection, and the growth of the heap divided by `tasks`.
 * What the caller keeps (its Promise, the array slot) is the same for
 * every contender. In an all-at-once burst every in-flight task's objects
 * survive the young generation's collections, which copy them, and then
 * promote them to the old generation: each byte here is collected the
 * expensive way. `--sites N` also lists the N allocation sites holding the
 * most, from V8's sampling heap profiler over the same loop.
 */
import { spawnSync } from "node:child_process"
import { parseArgs } from "node:util"
import { distRunArguments } from "./measure.ts"

const { values: args } = parseArgs({
  options: {
    only: {
      type: "string",
      default:
        "raw-fork-json,troupe-promise-process,troupe-process,raw-fork-effect,raw-thread,troupe-promise-thread,troupe-thread,raw-thread-effect"
    },
    tasks: { type: "string", default: "20000" },
    sites: { type: "string", default: "0" },
    /** Internal: measure one contender in this process. */
    run: { type: "string" }
  }
})

interface SampledNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<SampledNode>
}

if (args.run !== undefined) {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with --expose-gc")
  const { make } = (await import(`./contenders/${args.run}.ts`)) as {
    make: () => import("./contenders/types.ts").Contender
  }
  const contender = make()
  await contender.start(2)
  const tasks = Number(args.tasks)
  const ns = Array.from({ length: tasks }, (_, i) => i + 1)
  for (let round = 0; round < 3; round++) await Promise.all(ns.map((n) => contender.run(n)))
  const sites = Number(args.sites)
  const session = sites > 0 ? new (await import("node:inspector/promises")).Session() : undefined
  if (session !== undefined) {
    session.connect()
    await session.post("HeapProfiler.enable")
  }
  const inFlight: Array<Promise<number>> = new Array(tasks)
  gc()
  if (session !== undefined) await session.post("HeapProfiler.startSampling", { samplingInterval: 32 })
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < tasks; i++) inFlight[i] = contender.run(ns[i]!)
  gc()
  const held = (process.memoryUsage().heapUsed - before) / tasks
  const top: Array<string> = []
  if (session !== undefined) {
    const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: SampledNode } }
    const bySite = new Map<string, number>()
    const walk = (node: SampledNode, caller: string) => {
      const { functionName, url, lineNumber } = node.callFrame
      const here = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(node_modules|packages|bench)\//, "")}:${lineNumber}`
      const site = `${here} < ${caller}`
      if (node.selfSize > 0) bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize)
      for (const child of node.children) walk(child, here)
    }
    walk(profile.head, "(root)")
    for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, sites)) {
      top.push(`${(bytes / tasks).toFixed(0).padStart(7)} ${site}`)
    }
  }
  const results = await Promise.all(inFlight)
  if (results[2] !== 9) throw new Error(`wrong result: ${results[2]}`)
  await contender.close()
  console.log(JSON.stringify({ held, top }))
  process.exit(0)
}

for (const contender of args.only.split(",")) {
  const out = spawnSync(
    process.execPath,
    distRunArguments(import.meta.url, contender, ["--tasks", args.tasks, "--sites", args.sites], ["--expose-gc"]),
    { encoding: "utf8", timeout: 300_000 }
  )
  if (out.status !== 0) throw new Error(`${contender}: exit ${out.status} ${out.stderr.slice(-500)}`)
  const { held, top } = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as { held: number; top: Array<string> }
  console.log(`${contender}: ${Math.round(held)} bytes held per task in flight`)
  for (const line of top) console.log(line)
}
