/**
 * `npm run demo:cluster`: three runners and a client on this machine, with
 * PostgreSQL (started if it is down; the demo uses a database of its own and
 * drops it at the end).
 *
 * The client keeps depositing 1 into 20 accounts (persisted messages), then
 * SIGKILLs one runner. Its accounts move to the other two; the deposits that
 * were in flight are delivered there. The demo ends with one line:
 *
 *   deposits_acked=N balance_total=N lost=0 applied_twice=0 failover_ms=M duplicate_activations=0
 *
 * `lost` counts acknowledged deposits missing from the balances,
 * `applied_twice` deposits in the balances beyond those acknowledged or
 * failed (a failed ask's deposit may have been applied before the caller gave
 * up), `failover_ms` is the time from the kill until every account has
 * acknowledged a deposit sent after it, and `duplicate_activations` counts
 * accounts that were ever active on two runners at once (from every
 * instance's start and stop). Delivery is at-least-once, but a redelivered
 * deposit already in a balance is not applied again, so `balance_total`
 * equals `deposits_acked` when no ask failed.
 */
import { fileURLToPath } from "node:url"
import { ClusterClient, ClusterNode } from "@troupe/cluster"
import { Effect, Fiber, Layer } from "effect"
import { makeCluster, overlaps, readActivations } from "../../packages/cluster/test/fixtures/harness.ts"
import { Accounts } from "./account.ts"

const cluster = await makeCluster(fileURLToPath(new URL("./runner.ts", import.meta.url)))

const program = Effect.gen(function* () {
  const accounts = yield* Accounts
  const keys = Array.from({ length: 20 }, (_, i) => `account-${i}`)
  const acked = new Map(keys.map((key) => [key, 0]))
  const failed = new Map(keys.map((key) => [key, 0]))
  const firstAfterKill = new Map<string, number>()
  let killAt: number | undefined
  let stopped = false
  const deposit = (key: string) =>
    Effect.gen(function* () {
      const sentAt = Date.now()
      const exit = yield* Effect.exit(accounts.get(key).ask("Deposit", { amount: 1 }))
      if (exit._tag === "Failure") {
        failed.set(key, failed.get(key)! + 1)
        return
      }
      acked.set(key, acked.get(key)! + 1)
      if (killAt !== undefined && sentAt >= killAt && !firstAfterKill.has(key)) firstAfterKill.set(key, Date.now())
    })
  const load = yield* Effect.forEach(
    keys,
    (key) => Effect.whileLoop({ while: () => !stopped, body: () => deposit(key), step: () => {} }),
    { concurrency: "unbounded", discard: true }
  ).pipe(Effect.forkScoped)
  const total = () => [...acked.values()].reduce((a, b) => a + b, 0)

  while (total() < 200) yield* Effect.sleep("50 millis")
  cluster.runners[1]!.child.kill("SIGKILL")
  killAt = Date.now()
  while (firstAfterKill.size < keys.length) yield* Effect.sleep("50 millis")
  const settled = total()
  while (total() < settled + 200) yield* Effect.sleep("50 millis")
  stopped = true
  yield* Fiber.join(load)

  const balances = yield* Effect.forEach(keys, (key) => accounts.get(key).ask("Balance", undefined), {
    concurrency: 8
  })
  const lost = keys.reduce((sum, key, i) => sum + Math.max(0, acked.get(key)! - balances[i]!), 0)
  const appliedTwice = keys.reduce(
    (sum, key, i) => sum + Math.max(0, balances[i]! - acked.get(key)! - failed.get(key)!),
    0
  )
  const failoverMs = Math.max(...firstAfterKill.values()) - killAt
  const duplicates = overlaps(readActivations(cluster.activations), new Map([[cluster.runners[1]!.id, killAt]]))
  console.log(
    `deposits_acked=${total()} balance_total=${balances.reduce((a, b) => a + b, 0)} lost=${lost} applied_twice=${appliedTwice} ` +
      `failover_ms=${failoverMs} duplicate_activations=${new Set(duplicates.map((line) => line.split(":")[0])).size}`
  )
})

try {
  await Promise.all(["r1", "r2", "r3"].map((id) => cluster.start(id)))
  await Effect.runPromise(
    program.pipe(
      Effect.provide(
        ClusterClient.layer(Accounts).pipe(Layer.provide(ClusterNode.layerClient({ database: cluster.database.url })))
      ),
      Effect.scoped
    )
  )
} finally {
  await cluster.close()
}
