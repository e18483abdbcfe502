/**
 * Asks per second through the cluster: Troupe's `ClusterClient` to a
 * `ClusterRunner` (instances in host processes) against raw `effect/cluster`
 * entities doing the same work on the same runner, in the same run.
 *
 *   node packages/cluster/bench/asks.ts [--runners 1] [--reps 5] [--volatile 600] [--persisted 150]
 *
 * Each repetition runs both sides, alternating which goes first: `volatile`
 * `Get` asks and `persisted` `Increment` asks, 16 keys, 16 in flight. It
 * prints the median asks/s of each side and their ratio (Troupe / raw).
 */
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { ClusterClient, ClusterNode } from "@troupe/cluster"
import { Effect, Layer } from "effect"
import { makeCluster } from "../test/fixtures/harness.ts"
import { Counter, RawCounter } from "./counter.ts"

const { values } = parseArgs({
  options: {
    runners: { type: "string", default: "1" },
    reps: { type: "string", default: "5" },
    volatile: { type: "string", default: "600" },
    persisted: { type: "string", default: "150" }
  }
})
const keys = Array.from({ length: 16 }, (_, i) => `bench-${i}`)
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const cluster = await makeCluster(fileURLToPath(new URL("./runner.ts", import.meta.url)))

const program = Effect.gen(function* () {
  const troupe = yield* ClusterClient.refs(Counter)
  const raw = yield* RawCounter.client
  type Call = (key: string) => Effect.Effect<unknown, unknown>
  const sides: Record<string, { volatile: Call; persisted: Call }> = {
    troupe: {
      volatile: (key) => troupe.get(key).ask("Get", undefined),
      persisted: (key) => troupe.get(key).ask("Increment", { by: 1 })
    },
    raw: {
      volatile: (key) => raw(key).Get(),
      persisted: (key) => raw(key).Increment({ by: 1 })
    }
  }
  const rate = (call: Call, n: number) =>
    Effect.gen(function* () {
      const start = performance.now()
      yield* Effect.forEach(
        Array.from({ length: n }, (_, i) => keys[i % keys.length]!),
        call,
        {
          concurrency: 16,
          discard: true
        }
      )
      return (n / (performance.now() - start)) * 1000
    })
  // Warm up: every key activated on both sides.
  for (const side of Object.values(sides)) yield* rate(side.volatile, keys.length * 2)
  const results: Record<string, { volatile: Array<number>; persisted: Array<number> }> = {
    troupe: { volatile: [], persisted: [] },
    raw: { volatile: [], persisted: [] }
  }
  for (let rep = 0; rep < Number(values.reps); rep++) {
    const order = rep % 2 === 0 ? ["troupe", "raw"] : ["raw", "troupe"]
    for (const name of order) {
      results[name]!.volatile.push(yield* rate(sides[name]!.volatile, Number(values.volatile)))
      results[name]!.persisted.push(yield* rate(sides[name]!.persisted, Number(values.persisted)))
    }
  }
  for (const kind of ["volatile", "persisted"] as const) {
    const t = median(results.troupe![kind])
    const r = median(results.raw![kind])
    console.log(`${kind}: troupe=${t.toFixed(0)}/s raw=${r.toFixed(0)}/s ratio=${(t / r).toFixed(2)}x`)
  }
})

try {
  await Promise.all(Array.from({ length: Number(values.runners) }, (_, i) => cluster.start(`r${i + 1}`)))
  await Effect.runPromise(
    program.pipe(
      Effect.provide(ClusterNode.layerClient({ database: cluster.database.url }).pipe(Layer.orDie)),
      Effect.scoped
    )
  )
} finally {
  await cluster.close()
}
