/**
 * `IpcPipe` round trips per second, against the raw relay baseline of
 * `actors.ts` measured in the same run: `node ipcPipe.ts [--trips 2000]
 * [--reps 5]`.
 *
 * Troupe, two ways (`workers/pipeRally.ts`): between two pool children
 * (`children`: the same topology as the baseline, every message through the
 * parent that hosts the pipe) and between the parent and one child
 * (`parent`). Raw: `relayBaseline.ts`'s two forked children relaying
 * numbers through the parent with `process.send`; its rate is in one-way
 * messages, so its round trips are half of it. Each repetition runs the
 * three in rotating order after a warm-up; prints the load average, the
 * medians and the median of the per-repetition ratios to raw round trips,
 * and the CPU µs per round trip of the parent and of its children (less
 * noisy than rates on a loaded machine), and writes `results/ipcPipe.json`.
 */
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { parseArgs } from "node:util"
import { IpcPipe, Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type Cpu, cpuPerMessage, cpuStart, rawRelay } from "./relayBaseline.ts"
import { quantile } from "./stats.ts"
import { Answer, Serve, serve } from "./workers/pipeRally.ts"

const { values: args } = parseArgs({
  options: { trips: { type: "string", default: "2000" }, reps: { type: "string", default: "5" } }
})
const trips = Number(args.trips)
const reps = Number(args.reps)

interface Rally {
  readonly rate: number
  readonly cpu: Cpu
}

/** Round trips per second and CPU per round trip of one rally of `total` between two children, and of one between the parent and a child. */
const troupe = (pool: Pool.Service) => {
  const betweenChildren = (total: number) =>
    Effect.gen(function* () {
      const [serverEnd, answerEnd] = yield* IpcPipe.make(Schema.Number, Schema.Number)
      const cpu = cpuStart()
      const started = performance.now()
      const [a, b] = yield* Effect.all(
        [pool.apply(Serve, { end: serverEnd, total }), pool.apply(Answer, { end: answerEnd, total })],
        { concurrency: 2 }
      )
      const rate = (total / (performance.now() - started)) * 1000
      if (a === b) return yield* Effect.die(new Error("both ends ran in one process"))
      return { rate, cpu: cpuPerMessage(cpu, total) } satisfies Rally
    }).pipe(Effect.scoped)
  const withParent = (total: number) =>
    Effect.gen(function* () {
      const [serverEnd, answerEnd] = yield* IpcPipe.make(Schema.Number, Schema.Number)
      const cpu = cpuStart()
      const started = performance.now()
      yield* Effect.all([serve(serverEnd, total), pool.apply(Answer, { end: answerEnd, total })], { concurrency: 2 })
      return { rate: (total / (performance.now() - started)) * 1000, cpu: cpuPerMessage(cpu, total) } satisfies Rally
    }).pipe(Effect.scoped)
  return { betweenChildren, withParent }
}

type Side = "children" | "parent" | "raw"
const rates: Record<Side, Array<number>> = { children: [], parent: [], raw: [] }
const ratios: Record<"children" | "parent", Array<number>> = { children: [], parent: [] }
/** CPU µs per round trip, parent and children. */
const cpus: Record<Side, { parent: Array<number>; children: Array<number> }> = {
  children: { parent: [], children: [] },
  parent: { parent: [], children: [] },
  raw: { parent: [], children: [] }
}
const load = () =>
  loadavg()
    .map((n) => n.toFixed(1))
    .join(" ")
const loadBefore = load()

await Effect.gen(function* () {
  const pool = yield* Pool.make({ size: 2 })
  const rally = troupe(pool)
  yield* rally.betweenChildren(500)
  yield* rally.withParent(500)
  for (let rep = 0; rep < reps; rep++) {
    const rate: Partial<Record<Side, number>> = {}
    const record = (side: Side, rally: Rally, perRoundTrip: number) => {
      rate[side] = rally.rate
      cpus[side].parent.push(rally.cpu.parent * perRoundTrip)
      cpus[side].children.push(rally.cpu.children * perRoundTrip)
    }
    const order: ReadonlyArray<Side> = (["children", "parent", "raw"] as const).map(
      (_, i, all) => all[(i + rep) % all.length]!
    )
    for (const side of order) {
      if (side === "raw") {
        const raw = yield* Effect.promise(() => rawRelay(trips * 2))
        // Its figures are per one-way message: a round trip is two.
        record("raw", { rate: raw.rate / 2, cpu: raw.cpu }, 2)
      } else if (side === "children") record("children", yield* rally.betweenChildren(trips), 1)
      else record("parent", yield* rally.withParent(trips), 1)
    }
    for (const side of ["children", "parent", "raw"] as const) rates[side].push(rate[side]!)
    ratios.children.push(rate.children! / rate.raw!)
    ratios.parent.push(rate.parent! / rate.raw!)
    console.log(
      `rep ${rep + 1}: pipe between children ${Math.round(rate.children!)}/s, pipe parent-child ${Math.round(rate.parent!)}/s, raw relay ${Math.round(rate.raw!)} round trips/s; ratios ${(rate.children! / rate.raw!).toFixed(2)} / ${(rate.parent! / rate.raw!).toFixed(2)} (load ${load()})`
    )
  }
}).pipe(Effect.scoped, Effect.provide(NodePool.transport("process")), Effect.runPromise)

const median = (samples: ReadonlyArray<number>) => quantile(samples, 0.5)
const summary = {
  trips,
  reps,
  load: { before: loadBefore, after: load() },
  roundTripsPerSecond: {
    betweenChildren: { median: median(rates.children), runs: rates.children },
    parentAndChild: { median: median(rates.parent), runs: rates.parent },
    rawRelay: { median: median(rates.raw), runs: rates.raw }
  },
  ratioToRaw: {
    betweenChildren: { median: median(ratios.children), runs: ratios.children },
    parentAndChild: { median: median(ratios.parent), runs: ratios.parent }
  },
  cpuMicrosPerRoundTrip: Object.fromEntries(
    (["children", "parent", "raw"] as const).map((side) => [
      side,
      { parent: median(cpus[side].parent), children: median(cpus[side].children) }
    ])
  )
}
console.log(
  `median round trips/s: pipe between children ${Math.round(summary.roundTripsPerSecond.betweenChildren.median)} (ratio ${summary.ratioToRaw.betweenChildren.median.toFixed(2)}), pipe parent-child ${Math.round(summary.roundTripsPerSecond.parentAndChild.median)} (ratio ${summary.ratioToRaw.parentAndChild.median.toFixed(2)}), raw relay ${Math.round(summary.roundTripsPerSecond.rawRelay.median)}; load ${loadBefore} -> ${summary.load.after}`
)
console.log(
  `median CPU µs per round trip (parent / children): ${(["children", "parent", "raw"] as const)
    .map(
      (side) =>
        `${side} ${Math.round(summary.cpuMicrosPerRoundTrip[side]!.parent)} / ${Math.round(summary.cpuMicrosPerRoundTrip[side]!.children)}`
    )
    .join(", ")}`
)
writeFileSync(new URL("./results/ipcPipe.json", import.meta.url), `${JSON.stringify(summary, null, 2)}\n`)
process.exit(0)
