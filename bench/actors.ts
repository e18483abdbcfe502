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
 * what the messages cost without the channel.
 */
import { fork } from "node:child_process"
import { writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { Channel, Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { Finish, Ping, PingBehaviour, Pong, PongBehaviour } from "../examples/ping-pong.ts"
import { quantile } from "./stats.ts"

const { values: args } = parseArgs({
  options: { messages: { type: "string", default: "10000" }, reps: { type: "string", default: "5" } }
})
const messages = Number(args.messages)
const reps = Number(args.reps)

/** Messages per second of one raw rally. */
const raw = async (): Promise<number> => {
  const child = () => fork(new URL("./workers/relayChild.ts", import.meta.url), [], { serialization: "json" })
  const server = child()
  const answerer = child()
  const rally = (total: number) =>
    new Promise<number>((resolve) => {
      const started = performance.now()
      server.removeAllListeners("message")
      answerer.removeAllListeners("message")
      server.on("message", (frame: { n?: number; done?: number }) => {
        if (frame.done !== undefined) resolve((frame.done / (performance.now() - started)) * 1000)
        else answerer.send(frame)
      })
      answerer.on("message", (frame) => server.send(frame as object))
      server.send({ serve: total })
    })
  await rally(1000)
  const rate = await rally(messages)
  server.kill()
  answerer.kill()
  return rate
}

/** Messages per second of one Troupe rally, and of the same rally asked by the parent itself (no channel). */
const troupe = (): Promise<{ readonly rally: number; readonly fromParent: number }> =>
  Effect.gen(function* () {
    const sup = yield* Supervisor.start({}, [
      Supervisor.worker("ping", PingBehaviour),
      Supervisor.worker("pong", PongBehaviour)
    ])
    const rally = (total: number) =>
      Effect.gen(function* () {
        const finished = yield* Deferred.make<number>()
        const finish = yield* Channel.serve(Finish, { Done: (n) => Deferred.succeed(finished, n) })
        const started = performance.now()
        yield* sup.ref("ping", Ping).tell("Rally", { pong: sup.ref("pong", Pong), total, finish })
        const count = yield* Deferred.await(finished)
        return (count / (performance.now() - started)) * 1000
      }).pipe(Effect.scoped)
    yield* rally(1000)
    const fromChild = yield* rally(messages)
    const pong = sup.ref("pong", Pong)
    const started = performance.now()
    let n = 0
    while (n < messages) n = yield* pong.ask("Ping", { n: n + 1 })
    return { rally: fromChild, fromParent: (n / (performance.now() - started)) * 1000 }
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer), Effect.runPromise)

const rates = { troupe: [] as Array<number>, fromParent: [] as Array<number>, raw: [] as Array<number> }
const ratios: Array<number> = []
for (let rep = 0; rep < reps; rep++) {
  const order = rep % 2 === 0 ? (["troupe", "raw"] as const) : (["raw", "troupe"] as const)
  const now: Record<string, number> = {}
  for (const side of order) {
    if (side === "raw") now.raw = await raw()
    else {
      const measured = await troupe()
      now.troupe = measured.rally
      now.fromParent = measured.fromParent
    }
  }
  rates.troupe.push(now.troupe!)
  rates.fromParent.push(now.fromParent!)
  rates.raw.push(now.raw!)
  ratios.push(now.troupe! / now.raw!)
  console.log(
    `rep ${rep + 1}: troupe ${Math.round(now.troupe!)}/s (parent asking ${Math.round(now.fromParent!)}/s) raw ${Math.round(now.raw!)}/s ratio ${(now.troupe! / now.raw!).toFixed(2)}`
  )
}
const summary = {
  messages,
  reps,
  troupe: { median: quantile(rates.troupe, 0.5), runs: rates.troupe },
  fromParent: { median: quantile(rates.fromParent, 0.5), runs: rates.fromParent },
  raw: { median: quantile(rates.raw, 0.5), runs: rates.raw },
  ratio: { median: quantile(ratios, 0.5), runs: ratios }
}
console.log(
  `median: troupe ${Math.round(summary.troupe.median)}/s (parent asking ${Math.round(summary.fromParent.median)}/s) raw ${Math.round(summary.raw.median)}/s ratio ${summary.ratio.median.toFixed(2)}`
)
writeFileSync(new URL("./results/actors.json", import.meta.url), `${JSON.stringify(summary, null, 2)}\n`)
process.exit(0)
