/**
 * Small structs: 20,000 calls at once of a task taking `{ a, b }` and
 * returning `{ sum }`, through the Promise API on a pool of 2
 * (`node --import ./distHooks.mjs bench/structBurst.ts [--backend process|thread]
 * [--tasks 20000] [--bursts 5]`; needs `npm run build`). One burst warms the
 * pool, then it prints each burst's tasks/s and their median. What Schema's
 * parser costs a tiny task whose values are structs, not numbers: compare
 * two trees by alternating runs (the figures move with the machine's load).
 */
import { parseArgs } from "node:util"
import { PromisePool } from "@troupe/node"
import * as Tasks from "./workers/payloadTasks.ts"

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "process" },
    tasks: { type: "string", default: "20000" },
    bursts: { type: "string", default: "5" }
  }
})

const backend = args.backend === "thread" ? "thread" : "process"
const tasks = Number(args.tasks)
const pool = await PromisePool.make({ backend, size: 2, tasks: [Tasks.Add] })
const burst = async (): Promise<number> => {
  const started = performance.now()
  const calls: Array<Promise<{ readonly sum: number }>> = []
  for (let i = 0; i < tasks; i++) calls.push(pool.run(Tasks.Add, { a: i, b: 1 }))
  const results = await Promise.all(calls)
  if (results[5]?.sum !== 6) throw new Error(`wrong result: ${JSON.stringify(results[5])}`)
  return (tasks / (performance.now() - started)) * 1000
}
await burst()
const rates: Array<number> = []
for (let i = 0; i < Number(args.bursts); i++) rates.push(await burst())
const sorted = [...rates].sort((a, b) => a - b)
console.log(
  `${backend}, ${tasks} small structs at once: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} tasks/s (${rates.map((rate) => rate.toFixed(0)).join(", ")})`
)
await pool.close()
