/**
 * Losing a runner, on real processes and a real PostgreSQL. SIGKILL under
 * load: no acknowledged persisted deposit is lost, no account is ever active
 * on two runners at once (every activation is logged), and the time until
 * the dead runner's accounts answer elsewhere is measured. SIGTERM: the
 * runner stops its instances and hands its shards over in seconds, and the
 * accounts keep their balances. (The two tests share one cluster, in order.)
 */
import { ClusterClient, ClusterNode } from "@troupe/cluster"
import { Effect, Fiber, Layer, type Scope } from "effect"
import type { Sharding } from "effect/cluster/Sharding"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Account } from "./fixtures/account.ts"
import { type Cluster, makeCluster, overlaps, readActivations } from "./fixtures/harness.ts"

let cluster: Cluster
const killedAt = new Map<string, number>()

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

const keys = Array.from({ length: 24 }, (_, i) => `acct-${i}`)

/** Asks `key` where it lives until a runner other than `gone` answers; the time from `since` until then. */
const waitUntilMoved = (key: string, gone: string, since: number) =>
  Effect.gen(function* () {
    const probe = yield* ClusterClient.refs(Account, { askTimeout: "2 seconds" })
    while (true) {
      const where = yield* Effect.option(probe.get(key).ask("Where", undefined))
      if (where._tag === "Some" && where.value.runner !== gone) return { ms: Date.now() - since, where: where.value }
      yield* Effect.sleep("100 millis")
    }
  })

it("SIGKILL of a runner under load: no acknowledged deposit lost, no account active twice", async () => {
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account)
      const placed = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined), {
        concurrency: 8
      })
      const victim = placed[0]!.runner
      const victimKeys = keys.filter((_, i) => placed[i]!.runner === victim)
      const acked = new Map(keys.map((key) => [key, 0]))
      let failed = 0
      let stopped = false
      const deposit = (key: string): Effect.Effect<void> =>
        accounts
          .get(key)
          .ask("Deposit", { amount: 1 })
          .pipe(
            Effect.match({
              onFailure: () => {
                failed++
              },
              onSuccess: () => {
                acked.set(key, acked.get(key)! + 1)
              }
            })
          )
      const load = yield* Effect.forEach(
        keys,
        (key) => Effect.whileLoop({ while: () => !stopped, body: () => deposit(key), step: () => {} }),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.forkScoped)
      const total = () => [...acked.values()].reduce((a, b) => a + b, 0)
      while (total() < 100) yield* Effect.sleep("50 millis")

      const before = new Map(victimKeys.map((key) => [key, acked.get(key)!]))
      const runner = cluster.runners.find((r) => r.id === victim)!
      runner.child.kill("SIGKILL")
      const killAt = Date.now()
      killedAt.set(victim, killAt)
      const moved = yield* waitUntilMoved(victimKeys[0]!, victim, killAt)
      // The load goes on: every account of the dead runner takes deposits again, on its new runner.
      while (victimKeys.some((key) => acked.get(key)! < before.get(key)! + 3)) yield* Effect.sleep("50 millis")
      stopped = true
      yield* Fiber.join(load)
      const balances = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Balance", undefined), {
        concurrency: 8
      })
      return { victim, victimKeys, moved, acked, failed, balances, total: total() }
    })
  )
  const lost = keys.filter((key, i) => result.balances[i]! < result.acked.get(key)!)
  console.log(
    `SIGKILL ${result.victim} (${result.victimKeys.length} accounts): failover_ms=${result.moved.ms} ` +
      `deposits_acked=${result.total} failed=${result.failed} balance_total=${result.balances.reduce((a, b) => a + b, 0)}`
  )
  expect(lost).toEqual([])
  expect(result.moved.where.runner).not.toBe(result.victim)
  expect(overlaps(readActivations(cluster.activations), killedAt)).toEqual([])
  // A bound that catches a regression to the engine's default lock settings (about 31 s here); see docs/cluster.md.
  expect(result.moved.ms).toBeLessThan(25_000)
})

it("SIGTERM: the runner stops its instances and hands its shards over in seconds, balances intact", async () => {
  const alive = cluster.runners.filter((runner) => runner.child.exitCode === null && runner.child.signalCode === null)
  expect(alive.length).toBe(2)
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account)
      const placed = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined), {
        concurrency: 8
      })
      const leaving = alive[0]!
      const leavingKeys = keys.filter((_, i) => placed[i]!.runner === leaving.id)
      leaving.child.kill("SIGTERM")
      const since = Date.now()
      const moved = yield* waitUntilMoved(leavingKeys[0]!, leaving.id, since)
      yield* Effect.promise(() => leaving.exited)
      const after = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Where", undefined), {
        concurrency: 8
      })
      return { leaving, leavingKeys, placed, moved, after, stoppedMs: Date.now() - since }
    })
  )
  console.log(
    `SIGTERM ${result.leaving.id} (${result.leavingKeys.length} accounts): handover_ms=${result.moved.ms} exit_ms=${result.stoppedMs}`
  )
  expect(result.leavingKeys.length).toBeGreaterThan(0)
  expect(result.leaving.child.signalCode).toBeNull()
  // Every account kept its balance, and the leaving runner's accounts all moved.
  expect(result.after.map((where) => where.balance)).toEqual(result.placed.map((where) => where.balance))
  for (const where of result.after) expect(where.runner).not.toBe(result.leaving.id)
  // The leaving runner stopped every instance it had started (their finalizers ran), and none overlapped.
  const log = readActivations(cluster.activations).filter((entry) => entry.runner === result.leaving.id)
  const starts = log.filter((entry) => entry.event === "start").length
  expect(log.filter((entry) => entry.event === "stop").length).toBe(starts)
  expect(overlaps(readActivations(cluster.activations), killedAt)).toEqual([])
  expect(result.moved.ms).toBeLessThan(25_000)
})
