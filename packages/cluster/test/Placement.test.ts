/**
 * Three runner processes and this process as a client, on a real PostgreSQL:
 * keys are placed over all runners, and a keyed counter (a persisted
 * `Deposit`) adds up across them, each instance living in a host process of
 * its runner.
 */
import { ClusterClient, ClusterNode } from "@troupe/cluster"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Account } from "./fixtures/account.ts"
import { type Cluster, makeCluster } from "./fixtures/harness.ts"

let cluster: Cluster

beforeAll(async () => {
  cluster = await makeCluster()
  await Promise.all(["r1", "r2", "r3"].map((id) => cluster.start(id)))
}, 120_000)

afterAll(() => cluster?.close(), 60_000)

const run = <A, E>(effect: Effect.Effect<A, E, import("effect/cluster/Sharding").Sharding>) =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(ClusterNode.layerClient({ database: cluster.database.url }).pipe(Layer.orDie)),
      Effect.scoped
    )
  )

it("places keys over all three runners, each instance in a host process of its runner", async () => {
  const keys = Array.from({ length: 60 }, (_, i) => `placement-${i}`)
  const placed = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account)
      return yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined), { concurrency: 10 })
    })
  )
  const byRunner = new Map<string, number>()
  for (const where of placed) byRunner.set(where.runner, (byRunner.get(where.runner) ?? 0) + 1)
  expect([...byRunner.keys()].sort()).toEqual(["r1", "r2", "r3"])
  const runnerPids = new Set(cluster.runners.map((runner) => runner.child.pid))
  for (const where of placed) expect(runnerPids.has(where.pid)).toBe(false)
})

it("a keyed counter adds up across runners", async () => {
  const keys = Array.from({ length: 12 }, (_, i) => `counter-${i}`)
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account)
      yield* Effect.forEach(
        keys,
        (key, index) =>
          Effect.forEach(Array.from({ length: index + 1 }), () => accounts.get(key).ask("Deposit", { amount: 1 }), {
            discard: true
          }),
        { concurrency: "unbounded", discard: true }
      )
      return yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined))
    })
  )
  expect(result.map((where) => where.balance)).toEqual(keys.map((_, index) => index + 1))
  expect(new Set(result.map((where) => where.runner)).size).toBeGreaterThan(1)
})
