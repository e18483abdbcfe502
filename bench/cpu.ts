/**
 * CPU cost per task of a contender, parent and workers apart (user + system
 * time from /proc, so preemption on a loaded machine does not count):
 * `node cpu.ts [--contender troupe-process] [--tasks 20000] [--inFlight 64] [--warmup 20000]`.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import type { Contender } from "./contenders/types.ts"

const { values: args } = parseArgs({
  options: {
    contender: { type: "string", default: "troupe-process" },
    tasks: { type: "string", default: "20000" },
    inFlight: { type: "string", default: "64" },
    warmup: { type: "string", default: "20000" }
  }
})
const ticks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return Number(fields[11]) + Number(fields[12])
}

import { readdirSync } from "node:fs"

const threads = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
    const fields = stat.split(") ")[1]!.split(" ")
    const key = Number(tid) === pid ? "main" : name
    out[key] = (out[key] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10
  }
  return out
}
const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(b)
      .map(([k, v]) => [k, v - (a[k] ?? 0)])
      .filter(([, v]) => (v as number) > 0)
  )
const { make } = (await import(`./contenders/${args.contender}.ts`)) as { make: () => Contender }
const contender = make()
await contender.start(2)
const tasks = Number(args.tasks)
const inFlight = Number(args.inFlight)
const many = async (count: number) => {
  const ns = Array.from({ length: count }, (_, i) => i)
  if (contender.runMany !== undefined) return contender.runMany(ns, inFlight)
  let next = 0
  const lane = async () => {
    while (next < count) await contender.run(ns[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane))
}
await many(Number(args.warmup))
const pids = await contender.pids()
const c0 = pids.map(ticks)
const tp0 = threads(process.pid)
const tc0 = pids.map(threads)
const p0 = process.cpuUsage()
const t0 = performance.now()
await many(tasks)
const wall = performance.now() - t0
const p1 = process.cpuUsage(p0)
const c1 = pids.map(ticks)
if (process.env.THREADS) {
  console.log("parent threads ms", diff(tp0, threads(process.pid)))
  for (const [i, pid] of pids.entries()) console.log("child threads ms", diff(tc0[i]!, threads(pid)))
}
const childMs = c1.reduce((a, t, i) => a + (t - c0[i]!) * 10, 0)
const parentMs = (p1.user + p1.system) / 1000
const us = (ms: number) => ((ms * 1000) / tasks).toFixed(1)
console.log(
  `${args.contender} inFlight=${inFlight}: ${Math.round((tasks / wall) * 1000)}/s, CPU per task: parent ${us(parentMs)} µs, workers ${us(childMs)} µs`
)
await contender.close()
process.exit(0)
