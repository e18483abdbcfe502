/**
 * Actor-to-actor messages per second between two processes, against a raw
 * baseline measured in the same run: `node actors.ts [--messages 10000]
 * [--reps 5]`.
 *
 * Troupe: `examples/ping-pong.ts`'s two actors, each alone in its own
 * process under a supervisor; `ping` asks `pong` (a ref it was sent) until
 * `messages` went both ways, every message through the parent. Raw: two
 * forked children (JSON serialization) relaying the same rally through the
 * parent with `process.send` (`workers/relayChild.ts`). Each repetition runs
 * both, in alternating order, after a warm-up rally; prints the medians and
 * the median of the per-repetition ratios, and writes `results/actors.json`.
 * It also times the same rally asked by the parent itself (`fromParent`):
 * what the messages cost without the channel. For each rally it records the
 * CPU time per message of the parent and of its children (from `/proc`,
 * Linux only): unlike the rates, CPU per message hardly moves with the load.
 */
import { writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { Channel, Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { Finish, Ping, PingBehaviour, Pong, PongBehaviour } from "../examples/ping-pong.ts"
import { type Cpu, cpuPerMessage, cpuStart, rawRelay } from "./relayBaseline.ts"
import { quantile } from "./stats.ts"

const { values: args } = parseArgs({
  options: { messages: { type: "string", default: "10000" }, reps: { type: "string", default: "5" } }
})
const messages = Number(args.messages)
const reps = Number(args.reps)

/** Messages per second of one raw rally (the shared baseline of `relayBaseline.ts`). */
const raw = () => rawRelay(messages)

/** Messages per second of one Troupe rally, and of the same rally asked by the parent itself (no channel). */
const troupe = (): Promise<{
  readonly rally: number
  readonly rallyCpu: Cpu
  readonly fromParent: number
  readonly fromParentCpu: Cpu
}> =>
  Effect.gen(function* () {
    const sup = yield* Supervisor.start({}, [
      Supervisor.worker("ping", PingBehaviour),
      Supervisor.worker("pong", PongBehaviour)
    ])
    const rally = (total: number) =>
      Effect.gen(function* () {
        const finished = yield* Deferred.make<number>()
        const finish = yield* Channel.serve(Finish, { Done: (n) => Deferred.succeed(finished, n) })
        const cpu = cpuStart()
        const started = performance.now()
        yield* sup.ref("ping", Ping).tell("Rally", { pong: sup.ref("pong", Pong), total, finish })
        const count = yield* Deferred.await(finished)
        return { rate: (count / (performance.now() - started)) * 1000, cpu: cpuPerMessage(cpu, count) }
      }).pipe(Effect.scoped)
    yield* rally(1000)
    const fromChild = yield* rally(messages)
    const pong = sup.ref("pong", Pong)
    const cpu = cpuStart()
    const started = performance.now()
    let n = 0
    while (n < messages) n = yield* pong.ask("Ping", { n: n + 1 })
    return {
      rally: fromChild.rate,
      rallyCpu: fromChild.cpu,
      fromParent: (n / (performance.now() - started)) * 1000,
      fromParentCpu: cpuPerMessage(cpu, n)
    }
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer), Effect.runPromise)

type Side = "troupe" | "fromParent" | "raw"
const sides: ReadonlyArray<Side> = ["troupe", "fromParent", "raw"]
const rates: Record<Side, Array<number>> = { troupe: [], fromParent: [], raw: [] }
const cpus: Record<Side, Array<Cpu>> = { troupe: [], fromParent: [], raw: [] }
const ratios: Array<number> = []
const us = (cpu: Cpu) => `cpu/msg parent ${cpu.parent.toFixed(0)}µs children ${cpu.children.toFixed(0)}µs`
for (let rep = 0; rep < reps; rep++) {
  const order = rep % 2 === 0 ? (["troupe", "raw"] as const) : (["raw", "troupe"] as const)
  const rate: Partial<Record<Side, number>> = {}
  const cpu: Partial<Record<Side, Cpu>> = {}
  for (const side of order) {
    if (side === "raw") {
      const measured = await raw()
      rate.raw = measured.rate
      cpu.raw = measured.cpu
    } else {
      const measured = await troupe()
      rate.troupe = measured.rally
      cpu.troupe = measured.rallyCpu
      rate.fromParent = measured.fromParent
      cpu.fromParent = measured.fromParentCpu
    }
  }
  for (const side of sides) {
    rates[side].push(rate[side]!)
    cpus[side].push(cpu[side]!)
  }
  ratios.push(rate.troupe! / rate.raw!)
  console.log(
    `rep ${rep + 1}: troupe ${Math.round(rate.troupe!)}/s (${us(cpu.troupe!)}), parent asking ${Math.round(rate.fromParent!)}/s (${us(cpu.fromParent!)}), raw ${Math.round(rate.raw!)}/s (${us(cpu.raw!)}), ratio ${(rate.troupe! / rate.raw!).toFixed(2)}`
  )
}
const medianCpu = (side: Side): Cpu => ({
  parent: quantile(
    cpus[side].map((cpu) => cpu.parent),
    0.5
  ),
  children: quantile(
    cpus[side].map((cpu) => cpu.children),
    0.5
  )
})
const summarize = (side: Side) => ({
  median: quantile(rates[side], 0.5),
  runs: rates[side],
  cpuPerMessageMicros: { median: medianCpu(side), runs: cpus[side] }
})
const summary = {
  messages,
  reps,
  troupe: summarize("troupe"),
  fromParent: summarize("fromParent"),
  raw: summarize("raw"),
  ratio: { median: quantile(ratios, 0.5), runs: ratios }
}
console.log(
  `median: troupe ${Math.round(summary.troupe.median)}/s (${us(medianCpu("troupe"))}), parent asking ${Math.round(summary.fromParent.median)}/s (${us(medianCpu("fromParent"))}), raw ${Math.round(summary.raw.median)}/s (${us(medianCpu("raw"))}), ratio ${summary.ratio.median.toFixed(2)}`
)
writeFileSync(new URL("./results/actors.json", import.meta.url), `${JSON.stringify(summary, null, 2)}\n`)
process.exit(0)
