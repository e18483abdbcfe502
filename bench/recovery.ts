/**
 * Recovery after a burst of crashes (issue 14): each round starts a pool of 2,
 * sends 20 tasks that each exit their worker, all at once, then at once 1,000
 * plain tasks, and measures how long the 1,000 take to settle (and how many
 * fail). Contenders run interleaved, round after round, in this one process,
 * so that their medians share the machine's load; ratios are against the
 * `baseline` contender (default `piscina`).
 *
 *   node bench/recovery.ts [--rounds 5] [--baseline piscina] [contender ...]
 */
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import type { Contender } from "./contenders/types.ts"
import { quantile } from "./stats.ts"

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "5" }, baseline: { type: "string", default: "piscina" } }
})
// workerpool and tinypool strand tasks after crashes like these (docs/benchmarks.md, Crash recovery; a
// workerpool-thread round never settled here): left out. raw-fork-json is the process baseline (it fails the
// tasks a crash catches in flight instead of retrying them, so it counts failures).
const names = positionals.length > 0 ? positionals : ["troupe-process", "troupe-thread", "piscina", "raw-fork-json"]
const deadlineMs = 60_000
const rounds = Number(values.rounds)

const round = async (contender: Contender) => {
  await contender.start(2)
  await Promise.all(Array.from({ length: 50 }, (_, i) => contender.run(i)))
  // 20 crashes at once: every one of these tasks exits its worker (n % 50 === 0).
  const crashes = await Promise.race([
    Promise.allSettled(Array.from({ length: 20 }, (_, i) => contender.runCrash(50 * (i + 1)))),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("20 crashes not settled in 60 s")), deadlineMs))
  ])
  const t0 = performance.now()
  const settled = await Promise.race([
    Promise.allSettled(Array.from({ length: 1000 }, (_, i) => contender.run(i))),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("1,000 tasks not settled in 60 s")), deadlineMs)
    )
  ])
  const ms = performance.now() - t0
  await contender.close()
  return {
    ms,
    failed: settled.filter((result) => result.status === "rejected").length,
    crashed: crashes.filter((result) => result.status === "rejected").length
  }
}

const results = new Map<string, Array<{ ms: number; failed: number; crashed: number }>>()
for (let r = 0; r < rounds; r++) {
  for (const name of names) {
    const { make } = (await import(`./contenders/${name}.ts`)) as { make: () => Contender }
    const result = await round(make())
    results.set(name, [...(results.get(name) ?? []), result])
    console.error(`round ${r + 1} ${name}: ${result.ms.toFixed(0)} ms, ${result.failed} failed`)
  }
}
const median = (xs: ReadonlyArray<number>) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5
  )
const baseline = median((results.get(values.baseline) ?? []).map((result) => result.ms))
console.log(
  `| contender | settle 1,000 after 20 crashes, median (min-max) ms | failed of 1,000 | ÷ ${values.baseline} |`
)
console.log("| --- | ---: | ---: | ---: |")
for (const [name, all] of results) {
  const ms = all.map((result) => result.ms)
  const m = median(ms)
  console.log(
    `| \`${name}\` | ${m.toFixed(0)} (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)}) | ${median(all.map((result) => result.failed))} | ${(m / baseline).toFixed(2)}x |`
  )
}
