/**
 * `IpcQueue` items per second from a producer process to a consumer
 * process, against the raw relay baseline of `actors.ts` measured in the
 * same run: `node ipc.ts [--items 5000] [--batch 100] [--reps 5]`.
 *
 * Troupe (`workers/queueTasks.ts`): a producer and a consumer, each a task
 * in its own child of one pool, through a queue the parent hosts (capacity
 * 1,000), three ways: `single` (`offer`/`take`, one call per item each
 * side), `batch` (`offerAll`/`takeUpTo` of `batch` items) and `stream`
 * (`offerAll` batches into the consumer's `stream`, prefetching `batch`).
 * Raw: `relayBaseline.ts`'s two forked children relaying numbers through the
 * parent with `process.send`, one message per number (its rate in
 * messages per second). Each repetition runs the four in rotating order;
 * prints the load average, the medians, the median of the per-repetition
 * ratios to raw and the CPU time per item of the parent and of its
 * children (which moves much less with the load than the rates), and
 * writes `results/ipc.json`.
 */
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { parseArgs } from "node:util"
import { IpcQueue, Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type Cpu, cpuPerMessage, cpuStart, rawRelay } from "./relayBaseline.ts"
import { quantile } from "./stats.ts"
import { Consume, Produce } from "./workers/queueTasks.ts"

const { values: args } = parseArgs({
  options: {
    items: { type: "string", default: "5000" },
    batch: { type: "string", default: "100" },
    reps: { type: "string", default: "5" }
  }
})
const items = Number(args.items)
const batch = Number(args.batch)
const reps = Number(args.reps)

type Mode = "single" | "batch" | "stream"
type Side = Mode | "raw"
const sides: ReadonlyArray<Side> = ["single", "batch", "stream", "raw"]

/** Items per second from the producer child to the consumer child, one run of `count` items. */
const run = (pool: Pool.Service, mode: Mode, count: number) =>
  Effect.gen(function* () {
    const queue = yield* IpcQueue.make({ item: Schema.Int, capacity: 1000 })
    const cpu = cpuStart()
    const started = performance.now()
    const [, sum] = yield* Effect.all(
      [pool.apply(Produce, { queue, count, mode, batch }), pool.apply(Consume, { queue, count, mode, batch })],
      { concurrency: 2 }
    )
    const rate = (count / (performance.now() - started)) * 1000
    if (sum !== (count * (count + 1)) / 2) return yield* Effect.die(new Error(`${mode}: wrong sum ${sum}`))
    return { rate, cpu: cpuPerMessage(cpu, count) }
  }).pipe(Effect.scoped)

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")

/** CPU per item (per message for raw) of the parent and of its children. */
const us = (cpu: Cpu) => `cpu/item parent ${cpu.parent.toFixed(0)}µs children ${cpu.children.toFixed(0)}µs`

const rates: Record<Side, Array<number>> = { single: [], batch: [], stream: [], raw: [] }
const cpus: Record<Side, Array<Cpu>> = { single: [], batch: [], stream: [], raw: [] }
const ratios: Record<Mode, Array<number>> = { single: [], batch: [], stream: [] }
const loads: Array<string> = [load()]

await Effect.gen(function* () {
  const pool = yield* Pool.make({ size: 2 })
  // Warm-up: one full run per mode, so that the repetitions measure code V8 has optimised (with 500 items the
  // single-item rate still climbed from 0.25x to 0.55x the relay over the first five repetitions).
  for (const mode of ["single", "batch", "stream"] as const) yield* run(pool, mode, items)
  for (let rep = 0; rep < reps; rep++) {
    const order = sides.map((_, i) => sides[(i + rep) % sides.length]!)
    const rate: Partial<Record<Side, number>> = {}
    const cpu: Partial<Record<Side, Cpu>> = {}
    for (const side of order) {
      const measured = side === "raw" ? yield* Effect.promise(() => rawRelay(items)) : yield* run(pool, side, items)
      rate[side] = measured.rate
      cpu[side] = measured.cpu
    }
    for (const side of sides) {
      rates[side].push(rate[side]!)
      cpus[side].push(cpu[side]!)
    }
    for (const mode of ["single", "batch", "stream"] as const) ratios[mode].push(rate[mode]! / rate.raw!)
    loads.push(load())
    console.log(
      `rep ${rep + 1} (load ${loads.at(-1)}): ${sides.map((side) => `${side} ${Math.round(rate[side]!)}/s (${us(cpu[side]!)})`).join(", ")}`
    )
  }
}).pipe(Effect.scoped, Effect.provide(NodePool.transport("process")), Effect.runPromise)

const median = (samples: ReadonlyArray<number>) => quantile(samples, 0.5)
const summary = {
  items,
  batch,
  reps,
  loadAverage: loads,
  rates: Object.fromEntries(sides.map((side) => [side, { median: median(rates[side]), runs: rates[side] }])),
  cpuPerItemMicros: Object.fromEntries(
    sides.map((side) => [
      side,
      {
        parent: median(cpus[side].map((cpu) => cpu.parent)),
        children: median(cpus[side].map((cpu) => cpu.children))
      }
    ])
  ),
  ratioToRaw: Object.fromEntries(
    (["single", "batch", "stream"] as const).map((mode) => [mode, { median: median(ratios[mode]), runs: ratios[mode] }])
  )
}
console.log(
  `median: ${sides.map((side) => `${side} ${Math.round(median(rates[side]))}/s (cpu/item parent ${summary.cpuPerItemMicros[side]!.parent.toFixed(0)}µs children ${summary.cpuPerItemMicros[side]!.children.toFixed(0)}µs)`).join(", ")}; ratio to raw: ${(["single", "batch", "stream"] as const).map((mode) => `${mode} ${median(ratios[mode]).toFixed(2)}x`).join(", ")}; load ${loads.join(" | ")}`
)
writeFileSync(new URL("./results/ipc.json", import.meta.url), `${JSON.stringify(summary, null, 2)}\n`)
process.exit(0)
