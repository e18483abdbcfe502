/**
 * A finer A/B for latency, for development: `node pair.ts [--a troupe-process]
 * [--b raw-fork-json] [--blocks 40] [--block 500] [--warmup 20000]`. Starts
 * both contenders in this one process, warms each up, then times one task at
 * a time in alternating blocks (a, b, b, a, ...), so that both see the same
 * machine at almost the same moments. Prints each one's p50 and p99 over all
 * its samples and the median of the per-pair p50 ratios. `run.ts` stays the
 * measurement of record (fresh processes); this one is for telling apart two
 * versions of the code whose difference is smaller than the noise between
 * separate processes.
 */
import { parseArgs } from "node:util"
import type { Contender } from "./contenders/types.ts"
import { quantile } from "./stats.ts"

const { values: args } = parseArgs({
  options: {
    a: { type: "string", default: "troupe-process" },
    b: { type: "string", default: "raw-fork-json" },
    blocks: { type: "string", default: "40" },
    block: { type: "string", default: "500" },
    warmup: { type: "string", default: "20000" }
  }
})

const load = async (name: string): Promise<Contender> =>
  ((await import(`./contenders/${name}.ts`)) as { make: () => Contender }).make()

const timeBlock = async (contender: Contender, count: number, into: Array<number>): Promise<number> => {
  const block: Array<number> = []
  for (let i = 0; i < count; i++) {
    const t0 = performance.now()
    await contender.run(i)
    block.push((performance.now() - t0) * 1000)
  }
  into.push(...block)
  return quantile(block, 0.5)
}

const a = await load(args.a)
const b = await load(args.b)
await a.start(2)
await b.start(2)
for (const contender of [a, b]) for (let i = 0; i < Number(args.warmup); i++) await contender.run(i)

const samples = { a: [] as Array<number>, b: [] as Array<number> }
const ratios: Array<number> = []
for (let i = 0; i < Number(args.blocks); i++) {
  const first = i % 2 === 0 ? "a" : "b"
  const p50 = { a: 0, b: 0 }
  for (const side of first === "a" ? (["a", "b"] as const) : (["b", "a"] as const)) {
    p50[side] = await timeBlock(side === "a" ? a : b, Number(args.block), samples[side])
  }
  ratios.push(p50.a / p50.b)
}
const fmt = (xs: ReadonlyArray<number>) =>
  `p50 ${quantile(xs, 0.5).toFixed(1)} µs, p99 ${quantile(xs, 0.99).toFixed(1)} µs`
console.log(`${args.a}: ${fmt(samples.a)}`)
console.log(`${args.b}: ${fmt(samples.b)}`)
console.log(
  `p50 ratio ${args.a} / ${args.b}: ${(quantile(samples.a, 0.5) / quantile(samples.b, 0.5)).toFixed(3)} over all samples, ` +
    `median of ${ratios.length} block pairs ${quantile(ratios, 0.5).toFixed(3)}`
)
await a.close()
await b.close()
process.exit(0)
