/**
 * The parent's main-thread CPU per task of one-Promise-per-task calls made all at once (issue 16):
 * `node --import ./distHooks.mjs submitCpu.ts <contender> [tasks]` (default 2,000), after 200 warm-up tasks, three
 * rounds in one process. Each round reports the CPU of the synchronous loop that makes the calls and of the rest,
 * until every call settled (replies in, runs out), from `process.threadCpuUsage()`: the main thread only, so V8's
 * helper threads and the workers do not count. Alternate two builds' `bench/` directories to compare them.
 */
import type { Contender } from "./contenders/types.ts"

const [name = "troupe-promise-process", count = "2000"] = process.argv.slice(2)
const tasks = Number(count)
const { make } = (await import(`./contenders/${name}.ts`)) as { make: () => Contender }
const contender = make()
await contender.start(2)
await Promise.all(Array.from({ length: 200 }, (_, i) => contender.run(i)))
const rounds: Array<string> = []
for (let round = 0; round < 3; round++) {
  const started = performance.now()
  const beforeSubmit = process.threadCpuUsage()
  const calls: Array<Promise<number>> = []
  for (let i = 0; i < tasks; i++) calls.push(contender.run(i))
  const submit = process.threadCpuUsage(beforeSubmit)
  const beforeRest = process.threadCpuUsage()
  await Promise.all(calls)
  const rest = process.threadCpuUsage(beforeRest)
  const perTask = (usage: NodeJS.CpuUsage) => ((usage.user + usage.system) / tasks).toFixed(1)
  const rate = Math.round((tasks / (performance.now() - started)) * 1000)
  rounds.push(`${perTask(submit)}+${perTask(rest)} ${rate}/s`)
}
console.log(`${name} ${tasks}: main µs/task submit+rest: ${rounds.join(" | ")}`)
await contender.close()
process.exit(0)
