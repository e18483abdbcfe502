/**
 * Three runner processes and this process as a client, on a real PostgreSQL:
 * keys are placed over all runners; a keyed counter (a persisted `Deposit`)
 * adds up across them, each instance living in a host process of its runner;
 * an instance that crashes its host process is restarted there, from its
 * persisted state, and nothing else in the cluster notices.
 *
 * Then the cluster pool: the program asks for `Pool` and gets it from
 * `ClusterPool.layer`; tasks spread over all runners, each run on a worker
 * process of its runner's local pool, with the task's typed errors. Last, a
 * runner is SIGKILLed under load: every call settles within a bound, the
 * calls it held without retries fail with `WorkerCrashed` and none ran twice
 * (every run is logged by the task itself), the calls with retries all
 * succeed, and no call that was not the dead runner's fails. Then a runner
 * whose `Account` group gives up (its hosts crashed past their restart
 * intensity) leaves the cluster: its keys answer on the other runner, with
 * their balances.
 *
 * (The tests share one cluster, in order: starting runners is the slow part.)
 */
import { ClusterClient, ClusterNode, ClusterPool } from "@troupe/cluster"
import { Pool } from "@troupe/core"
import { Cause, Effect, Exit, Fiber, Layer, type Scope } from "effect"
import type { Sharding } from "effect/cluster/Sharding"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Account, Overdrawn } from "./fixtures/account.ts"
import { type Cluster, makeCluster, readActivations, readJsonLines } from "./fixtures/harness.ts"
import { readAgain, shardsSettled, whereOf } from "./fixtures/load.ts"
import { poolTasks, Work, WorkWithRetries } from "./fixtures/poolTasks.ts"

let cluster: Cluster

beforeAll(async () => {
  cluster = await makeCluster()
  await Promise.all(["r1", "r2", "r3"].map((id) => cluster.start(id)))
  await shardsSettled(cluster.database.url, 3)
}, 180_000)

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
      return yield* Effect.forEach(keys, (key) => whereOf(accounts, key), { concurrency: 10 })
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
      return yield* Effect.forEach(keys, (key) => whereOf(accounts, key))
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
      // Read again while shards settle (a read refused as "may have run" is harmless); the reads after the crash are not.
      const before = yield* Effect.forEach(keys, (key) => whereOf(accounts, key), { concurrency: 10 })
      const victim = keys[0]!
      const crash = yield* Effect.flip(accounts.get(victim).ask("Crash", undefined))
      yield* accounts.get(victim).ask("Deposit", { amount: 1 })
      // Asked once each, never again: a key that noticed the crash (an ActorDied) fails the test.
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

it("a message's typed error, a payload that does not match and a handler's defect reach the caller as locally", async () => {
  const { overdrawn, invalid, defect, balance } = await run(
    Effect.gen(function* () {
      const account = (yield* ClusterClient.refs(Account)).get("errors-0")
      yield* account.ask("Deposit", { amount: 3 })
      const overdrawn = yield* Effect.flip(account.ask("Withdraw", { amount: 5 }))
      const invalid = yield* Effect.flip(account.ask("Deposit", { amount: 1.5 }))
      const defect = yield* Effect.flip(account.ask("Die", undefined))
      const balance = yield* account.ask("Withdraw", { amount: 2 })
      return { overdrawn, invalid, defect, balance }
    })
  )
  expect(overdrawn).toBeInstanceOf(Overdrawn)
  expect(overdrawn).toMatchObject({ _tag: "Overdrawn", balance: 3, amount: 5 })
  expect(invalid._tag).toBe("RequestValidationError")
  expect(defect).toMatchObject({ _tag: "RemoteDefect", message: "the handler died" })
  expect(balance).toBe(1)
})

// The cluster pool, on the same runners.

interface Execution {
  readonly id: string
  readonly event: "start" | "end"
  readonly runner: string
  readonly pid: number
  readonly at: number
}

const readExecutions = (file: string): Array<Execution> => readJsonLines<Execution>(file)

const runPool = <A, E>(effect: Effect.Effect<A, E, Pool.Pool | Scope.Scope>) =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(
        ClusterPool.layer(poolTasks).pipe(
          Layer.provide(ClusterNode.layerClient({ database: cluster.database.url }).pipe(Layer.orDie))
        )
      ),
      Effect.scoped
    )
  )

/**
 * Waits until the shards have settled over the three runners: a runner that
 * has just taken a shard refuses the calls made before (they may have reached
 * the shard's previous owner), so a test starts once every call succeeds.
 */
const settled = Effect.gen(function* () {
  for (let round = 0; ; round++) {
    const exits = yield* Pool.mapSettled(
      Work,
      Array.from({ length: 30 }, (_, i) => ({ id: `settle-${round}-${i}`, ms: 0 }))
    )
    const runners = new Set(exits.filter(Exit.isSuccess).map((exit) => exit.value.runner))
    if (runners.size === 3 && exits.every(Exit.isSuccess)) return
    yield* Effect.sleep("500 millis")
  }
})

it("spreads tasks over all three runners' local pools, with the task's typed errors", async () => {
  const ids = Array.from({ length: 60 }, (_, i) => `spread-${i}`)
  const { ran, refused } = await runPool(
    Effect.gen(function* () {
      yield* settled
      const ran = yield* Pool.map(
        Work,
        ids.map((id) => ({ id, ms: 20 }))
      )
      const refused = yield* Effect.flip(Pool.apply(Work, { id: "refuse-1", ms: 0 }))
      return { ran, refused }
    })
  )
  expect(ran.map((result) => result.id)).toEqual(ids)
  const byRunner = new Map<string, number>()
  for (const result of ran) byRunner.set(result.runner, (byRunner.get(result.runner) ?? 0) + 1)
  expect([...byRunner.keys()].sort()).toEqual(["r1", "r2", "r3"])
  // Each task ran once, in a worker process of its runner's pool, not in the runner itself.
  const runnerPids = new Set(cluster.runners.map((runner) => runner.child.pid))
  for (const result of ran) expect(runnerPids.has(result.pid)).toBe(false)
  const starts = readExecutions(cluster.executions).filter((entry) => entry.event === "start")
  for (const id of ids) expect(starts.filter((entry) => entry.id === id)).toHaveLength(1)
  expect(refused._tag).toBe("Refused")
})

it("a runner SIGKILLed under load: every call settles, none without retries runs twice, those with retries succeed", async () => {
  const victim = cluster.runners[0]!
  const once = Array.from({ length: 36 }, (_, i) => `once-${i}`)
  const retried = Array.from({ length: 36 }, (_, i) => `retried-${i}`)
  const { onceExits, retriedExits, inFlightAtKill, settledMs } = await runPool(
    Effect.gen(function* () {
      const onceFiber = yield* Effect.forkChild(
        Pool.mapSettled(
          Work,
          once.map((id) => ({ id, ms: 500 }))
        )
      )
      const retriedFiber = yield* Effect.forkChild(
        Pool.mapSettled(
          WorkWithRetries,
          retried.map((id) => ({ id, ms: 500 }))
        )
      )
      // Kill the runner while its workers run tasks of both kinds (a start without its end).
      const running = () => {
        const log = readExecutions(cluster.executions).filter((entry) => entry.runner === victim.id)
        const ended = new Set(log.filter((entry) => entry.event === "end").map((entry) => entry.id))
        return log.filter((entry) => entry.event === "start" && !ended.has(entry.id)).map((entry) => entry.id)
      }
      yield* Effect.sleep("20 millis").pipe(
        Effect.repeat({ until: () => running().some((id) => id.startsWith("once-")) })
      )
      const inFlightAtKill = running()
      victim.child.kill("SIGKILL")
      const killedAt = Date.now()
      const onceExits = yield* Fiber.join(onceFiber)
      const retriedExits = yield* Fiber.join(retriedFiber)
      return { onceExits, retriedExits, inFlightAtKill, settledMs: Date.now() - killedAt }
    })
  )
  await victim.exited
  console.log(`cluster pool: every call settled ${settledMs} ms after the SIGKILL`)
  expect(settledMs).toBeLessThan(30_000)
  const starts = readExecutions(cluster.executions).filter((entry) => entry.event === "start")
  const startsOf = (id: string) => starts.filter((entry) => entry.id === id)

  // Without retries: at most one run each; a failure is a WorkerCrashed, for a call the dead runner held.
  const failedOnce: Array<string> = []
  once.forEach((id, index) => {
    expect(startsOf(id).length).toBeLessThanOrEqual(1)
    const exit = onceExits[index]!
    if (Exit.isSuccess(exit)) {
      expect(startsOf(id)).toHaveLength(1)
    } else {
      failedOnce.push(id)
      const error = exit.cause.reasons[0]
      expect(error?._tag).toBe("Fail")
      expect(error?._tag === "Fail" && (error.error as { _tag: string })._tag).toBe("WorkerCrashed")
      for (const start of startsOf(id)) expect(start.runner).toBe(victim.id)
    }
  })
  // The tasks running on the dead runner failed; some calls survived on the others.
  for (const id of inFlightAtKill.filter((id) => id.startsWith("once-"))) expect(failedOnce).toContain(id)
  expect(failedOnce.length).toBeGreaterThan(0)
  expect(failedOnce.length).toBeLessThan(once.length)

  // With retries: every call succeeded.
  for (const exit of retriedExits) expect(Exit.isSuccess(exit)).toBe(true)
})

it("a runner whose Account group gave up lets its shards go: its keys answer on another runner, with their state", async () => {
  const keys = Array.from({ length: 24 }, (_, i) => `gaveup-${i}`)
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "5 seconds" })
      yield* Effect.forEach(keys, (key) => readAgain(accounts.get(key).ask("Deposit", { amount: 7 })), {
        concurrency: 8
      })
      const before = yield* Effect.forEach(keys, (key) => whereOf(accounts, key), { concurrency: 8 })
      const victim = before[0]!.runner
      const held = keys.filter((_, i) => before[i]!.runner === victim)
      // One key on each of the victim's host processes: crashing them all at once restarts every host.
      const crashers = [
        ...new Map(before.filter((where) => where.runner === victim).map((where, i) => [where.pid, held[i]!])).values()
      ]
      const refusals: Array<string> = []
      const since = Date.now()
      // Crashes the victim's hosts while a key it held still answers there: past the group's restart intensity
      // (4 restarts in 10 s), the group gives up. Before, every later message to its keys failed with ActorDied.
      const moved = yield* Effect.gen(function* () {
        for (;;) {
          const where = yield* Effect.exit(accounts.get(held[0]!).ask("Where", undefined))
          if (Exit.isSuccess(where)) {
            if (where.value.runner !== victim) return { ms: Date.now() - since, where: where.value }
            yield* Effect.forEach(crashers, (key) => Effect.exit(accounts.get(key).ask("Crash", undefined)), {
              concurrency: "unbounded"
            })
          } else {
            refusals.push((Cause.squash(where.cause) as { _tag: string })._tag)
            yield* Effect.sleep("100 millis")
          }
        }
      }).pipe(Effect.timeoutOption("60 seconds"))
      const after =
        moved._tag === "Some" ? yield* Effect.forEach(keys, (key) => whereOf(accounts, key), { concurrency: 8 }) : []
      return { victim, held, before, moved, after, refusals }
    })
  )
  const { victim, held, before, moved, after, refusals } = result
  console.log(
    `${victim}'s Account group gave up: ${held.length} keys moved within ${moved._tag === "Some" ? moved.value.ms : "-"} ms (refusals: ${refusals.join(",")})`
  )
  expect(moved._tag).toBe("Some")
  // Every key answers, none from the runner whose group gave up, each with the balance it had (its stored snapshot).
  for (const where of after) expect(where.runner).not.toBe(victim)
  expect(after.map((where) => where.balance)).toEqual(before.map((where) => where.balance))
  // A message caught by the give-up failed with ActorDied (it may have run), none as the caller's interruption.
  for (const tag of refusals) expect(tag).toBe("ActorDied")
  // The runner's process stayed up, outside the cluster, and stops on SIGTERM as any runner does.
  const left = cluster.runners.find((runner) => runner.id === victim)!
  expect(left.child.exitCode).toBeNull()
  left.child.kill("SIGTERM")
  await left.exited
  expect(left.child.signalCode).toBeNull()
}, 120_000)
