/**
 * The child runner's own CPU per run, in one thread, with and without a
 * synchronous channel (`ChildPort.sendNow`): `node --import ./distHooks.mjs
 * runnerCpu.ts` (needs `npm run build`). Runs of a tiny task arrive one per
 * message or 32 per message, as a worker sees them in a burst; each round
 * alternates the two runners, 20,000 runs each, and prints the CPU time
 * (`process.cpuUsage`) per run: no channel, no other thread, so the load of
 * the machine does not move it much.
 */
import { ChildRunner, Task } from "@troupe/core"
import { Effect, Schema } from "effect"

const Tiny = Task.make("rb/Tiny", {
  payload: Schema.Number,
  success: Schema.Number,
  handler: (n) => Effect.succeed(n * n)
})
const module = "file:///rb/tiny.ts"
const make = (sync: boolean) => {
  let count = 0
  let wake: (() => void) | undefined
  const got = () => {
    count++
    if (wake) {
      const w = wake
      wake = undefined
      w()
    }
  }
  const runner = ChildRunner.make(
    {
      send: () => {
        got()
        return Promise.resolve()
      },
      ...(sync ? { sendNow: () => got() } : {}),
      done: () => {},
      defer: (f) => setImmediate(f),
      rss: () => 0
    },
    { ...ChildRunner.defaultOptions, preload: [module], bundled: true }
  )
  return { runner, count: () => count, next: () => new Promise<void>((r) => (wake = r)) }
}
const both = [make(false), make(true)]
for (const r of both) {
  await r.runner.warmUp
  r.runner.onMessage([[0, Tiny.name, 0, module]])
}
const round = async (r: (typeof both)[number], n: number, perMessage: number) => {
  const t = process.cpuUsage()
  for (let i = 0; i < n; i += perMessage) {
    const target = r.count() + perMessage
    const wire = Array.from({ length: perMessage }, (_, j) => [i + j + 1, Tiny.name, i + j])
    r.runner.onMessage(wire)
    while (r.count() < target) await r.next()
  }
  const u = process.cpuUsage(t)
  return (u.user + u.system) / n
}
for (const perMessage of [1, 32]) {
  const res: Record<string, Array<number>> = { async: [], sync: [] }
  for (let rep = 0; rep < 6; rep++) {
    res.async!.push(await round(both[0]!, 20000, perMessage))
    res.sync!.push(await round(both[1]!, 20000, perMessage))
  }
  const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(2)
  console.log(
    `runs per message ${perMessage}: CPU µs per run, async send ${res.async!.map((x) => x.toFixed(2)).join(" ")} (median ${med(res.async!)}); sendNow ${res.sync!.map((x) => x.toFixed(2)).join(" ")} (median ${med(res.sync!)})`
  )
}
