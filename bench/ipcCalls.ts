/**
 * The JavaScript cost of one `IpcQueue` item, without the channel: CPU µs
 * per item in the parent and in a child, in this process, so that it hardly
 * moves with the machine's load (`bench/ipc.ts` measures the real thing,
 * channel included). `node ipcCalls.ts [--items 20000] [--reps 7]`.
 *
 * Parent: `Offer` and `Take` call frames, as a child sends them, fed to a
 * child's call server over a queue the parent hosts; its replies go to a
 * fake connection. `offerFirst`: the take finds the item (every call
 * completes at once); `takeFirst`: the take waits and the offer wakes it
 * (the consumer waiting on an empty queue, as in `ipc.ts`'s single mode).
 * Child: `IpcQueue.offer` then `IpcQueue.take` through the parent link,
 * whose fake channel answers each call at once. Prints the median of the
 * repetitions after the first.
 */
import { parseArgs } from "node:util"
import { IpcQueue } from "@troupe/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { quantile } from "./stats.ts"

/** Troupe's internals (not exported by the package), loaded by path; typed by what this file uses. */
const internal = (path: string): Promise<any> =>
  import(new URL(`../packages/core/src/internal/${path}`, import.meta.url).href)
const CallServer: {
  readonly make: (connection: unknown) => { readonly onFrame: (frame: object) => void }
} = await internal("parent/callServer.ts")
const ParentLink: {
  readonly install: (send: (frame: any) => Promise<void>) => void
  readonly answer: (frame: object) => void
} = await internal("wire/parentLink.ts")

const { values: args } = parseArgs({
  options: { items: { type: "string", default: "20000" }, reps: { type: "string", default: "7" } }
})
const items = Number(args.items)
const reps = Number(args.reps)

const cpuMicros = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

/** Parent CPU µs per item: an `Offer` and a `Take` frame per item. */
const parent = async (order: "offerFirst" | "takeFirst"): Promise<number> => {
  const scope = Effect.runSync(Scope.make())
  const queue = Effect.runSync(Scope.provide(IpcQueue.make({ item: Schema.Int, capacity: 1000 }), scope))
  const endpoint = queue.handle.endpoint
  let replies = 0
  const connection = {
    exitStatus: () => undefined,
    sendUnsafe: () => {
      replies++
    },
    exited: Effect.never
  }
  const server = CallServer.make(connection)
  let id = 0
  const offer = (n: number) => server.onFrame({ _tag: "Call", id: id++, endpoint, method: "Offer", payload: [n] })
  const take = () =>
    server.onFrame({
      _tag: "Call",
      id: id++,
      endpoint,
      method: "Take",
      payload: { session: "bench", take: `take.${id}`, max: 1, wait: true },
      late: true
    })
  const started = cpuMicros()
  for (let n = 0; n < items; n++) {
    if (order === "offerFirst") {
      offer(n)
      take()
    } else {
      take()
      offer(n)
    }
    // A take woken by an offer is answered a microtask later, as after a frame from the channel.
    await undefined
  }
  const used = cpuMicros() - started
  if (replies !== 2 * items) throw new Error(`${order}: ${replies} replies for ${2 * items} calls`)
  Effect.runSync(Scope.close(scope, Exit.void))
  return used / items
}

/** Child CPU µs per item: `offer` then `take`, each answered at once by a fake parent. */
const child = async (): Promise<number> => {
  const queue = Schema.decodeUnknownSync(IpcQueue.schema(Schema.Int))({
    service: "troupe/IpcQueue",
    endpoint: "elsewhere.0"
  })
  let next = 0
  ParentLink.install((frame) => {
    if (frame._tag === "Call" && frame.method !== "Open") {
      const value = frame.method === "Take" ? [next++] : null
      ParentLink.answer({ _tag: "CallReply", id: frame.id, reply: { _tag: "Success", value } })
    }
    return Promise.resolve()
  })
  const started = cpuMicros()
  await Effect.runPromise(
    Effect.gen(function* () {
      for (let n = 0; n < items; n++) {
        yield* IpcQueue.offer(queue, n)
        yield* IpcQueue.take(queue)
      }
    })
  )
  return (cpuMicros() - started) / items
}

const runs: Record<string, Array<number>> = { offerFirst: [], takeFirst: [], child: [] }
for (let rep = 0; rep < reps; rep++) {
  const measured = {
    offerFirst: await parent("offerFirst"),
    takeFirst: await parent("takeFirst"),
    child: await child()
  }
  if (rep === 0) continue
  for (const [name, micros] of Object.entries(measured)) runs[name]!.push(micros)
}
console.log(
  Object.entries(runs)
    .map(
      ([name, samples]) =>
        `${name === "child" ? "child" : `parent ${name}`} ${quantile(samples, 0.5).toFixed(2)}µs/item`
    )
    .join(", ")
)
process.exit(0)
