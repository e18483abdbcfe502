/**
 * Three runner processes and this process as a client, on a real PostgreSQL:
 * keys are placed over all runners; a keyed counter (a persisted `Deposit`)
 * adds up across them, each instance living in a host process of its runner;
 * an instance that crashes its host process is restarted there, from its
 * persisted state, and nothing else in the cluster notices. (The three
 * tests share one cluster: starting runners is the slow part.)
 */
import { ClusterClient, ClusterNode } from "@troupe/cluster"
import { Effect, Layer, type Scope } from "effect"
import type { Sharding } from "effect/cluster/Sharding"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Account } from "./fixtures/account.ts"
import { type Cluster, makeCluster, readActivations } from "./fixtures/harness.ts"

let cluster: Cluster

beforeAll(async () => {
  cluster = await makeCluster()
  await Promise.all(["r1", "r2", "r3"].map((id) => cluster.start(id)))
}, 120_000)

afterAll(() => cluster?.close(), 60_000)

const run = <A, E>(effect: Effect.Effect<A, E, Sharding | Scope.Scope>) =>
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

it("an instance that crashes its host process restarts there, from its state; nothing else notices", async () => {
  const keys = Array.from({ length: 30 }, (_, i) => `crash-${i}`)
  const { before, crash, victim, after } = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account)
      yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Deposit", { amount: 5 }), { concurrency: 10 })
      const before = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined), {
        concurrency: 10
      })
      const victim = keys[0]!
      const crash = yield* Effect.flip(accounts.get(victim).ask("Crash", undefined))
      yield* accounts.get(victim).ask("Deposit", { amount: 1 })
      const after = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined), { concurrency: 10 })
      return { before, crash, victim, after }
    })
  )
  // The caller gets the typed error a local group gives.
  expect(crash._tag).toBe("ActorDied")
  // The victim is back on the same runner, in a new host process, with its balance (5) and the new deposit.
  expect(after[0]!.runner).toBe(before[0]!.runner)
  expect(after[0]!.pid).not.toBe(before[0]!.pid)
  expect(after[0]!.balance).toBe(6)
  // Every key that shared neither the runner nor the host is where it was, with its state.
  for (let i = 1; i < keys.length; i++) {
    if (before[i]!.pid === before[0]!.pid) continue
    expect(after[i]).toEqual(before[i])
  }
  // No runner died, and only the crashed host's keys were activated again.
  for (const runner of cluster.runners) expect(runner.child.exitCode).toBeNull()
  const restarted = new Set(
    readActivations(cluster.activations)
      .filter((entry) => entry.event === "start" && keys.includes(entry.key))
      .filter((entry) => !before.some((where) => where.pid === entry.pid))
      .map((entry) => entry.key)
  )
  expect(restarted.has(victim)).toBe(true)
  for (const key of restarted) expect(before[keys.indexOf(key)]!.pid).toBe(before[0]!.pid)
})
