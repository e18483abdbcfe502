/**
 * What a caller gets when a message or a call cannot be delivered as sent,
 * on two runner processes and a real PostgreSQL, with this process as the
 * client. Last, a runner is SIGKILLed with volatile asks in flight on it:
 * each of those runs at most once, and its caller gets `ActorDied` (the
 * engine sends such a message again to the shard's next owner, which used
 * to run it a second time). (The tests share one cluster, in order.)
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ClusterClient, ClusterNode, ClusterPool, ClusterRunner } from "@troupe/cluster"
import { NodeProcess } from "@troupe/node"
import { Cause, Effect, Exit, Fiber, Layer, Scope } from "effect"
import type { Sharding } from "effect/cluster/Sharding"
import type { ShardingConfig } from "effect/cluster/ShardingConfig"
import { afterAll, beforeAll, expect, it, onTestFinished } from "vitest"
import { Account, AccountBehaviour } from "./fixtures/account.ts"
import { type Cluster, createDatabase, makeCluster, readJsonLines } from "./fixtures/harness.ts"
import { shardsSettled, whereOf } from "./fixtures/load.ts"
import { EchoAny, poolTasks, Unserved, Work } from "./fixtures/poolTasks.ts"

let cluster: Cluster

beforeAll(async () => {
  cluster = await makeCluster()
  await Promise.all(["r1", "r2"].map((id) => cluster.start(id)))
  await shardsSettled(cluster.database.url, 2)
}, 180_000)

afterAll(() => cluster?.close(), 60_000)

/** Runs `effect` on a client node of the cluster whose database is `database` (a URL). */
const runOn =
  (database: string) =>
  <A, E>(effect: Effect.Effect<A, E, Sharding | ShardingConfig | Scope.Scope>) =>
    Effect.runPromise(
      effect.pipe(Effect.provide(ClusterNode.layerClient({ database }).pipe(Layer.orDie)), Effect.scoped)
    )

const run = <A, E>(effect: Effect.Effect<A, E, Sharding | ShardingConfig | Scope.Scope>) =>
  runOn(cluster.database.url)(effect)

/** The error an exit failed with, or the value it succeeded with. */
const outcome = <A, E>(exit: Exit.Exit<A, E>): unknown => (Exit.isSuccess(exit) ? exit.value : Cause.squash(exit.cause))

/** `effect`'s outcome, or `"hung"` when it has not settled within 30 s (a bound that catches hangs only). */
const settles = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(Effect.map(Effect.exit(effect), outcome), {
    duration: "30 seconds",
    orElse: () => Effect.succeed("hung" as unknown)
  })

it("a pool call no runner serves settles with TaskTimeout: a pool name no runner serves, a cluster without runners", async () => {
  const empty = await createDatabase()
  try {
    const call = (name: string) =>
      Effect.flatMap(ClusterPool.make(poolTasks, { name, timeout: "3 seconds" }), (pool) =>
        settles(pool.apply(Work, { id: `unserved-${name}`, ms: 0 }))
      )
    const [unnamed, noRunner] = await Promise.all([run(call("nosuchpool")), runOn(empty.url)(call("pool"))])
    expect(unnamed).toMatchObject({ _tag: "TaskTimeout", task: "Work", timeoutMs: 3000 })
    expect(noRunner).toMatchObject({ _tag: "TaskTimeout", task: "Work", timeoutMs: 3000 })
  } finally {
    empty.drop()
  }
}, 120_000)

it("a pool payload its Schema refuses is a RequestValidationError; a map with one bad item sends nothing", async () => {
  const result = await run(
    Effect.gen(function* () {
      const pool = yield* ClusterPool.make(poolTasks, { timeout: "60 seconds" })
      const apply = (payload: unknown) => settles(pool.apply(Work, payload as { id: string; ms: number }))
      const wrongType = yield* apply({ id: 5, ms: 0 })
      const bigint = yield* apply({ id: "bigint", ms: 10n })
      const nothing = yield* apply(null)
      const map = yield* settles(
        pool.map(Work, [{ id: "map-good-0", ms: 0 }, { id: null, ms: 0 } as never, { id: "map-good-1", ms: 0 }])
      )
      const settled = yield* settles(
        pool.mapSettled(Work, [{ id: "settled-good-0", ms: 0 }, { id: 1, ms: 0 } as never])
      )
      // A call after them: had the good items been sent, they would have run by the time it has.
      const after = yield* apply({ id: "after-bad", ms: 0 })
      return { wrongType, bigint, nothing, map, settled, after }
    })
  )
  for (const refused of [result.wrongType, result.bigint, result.nothing, result.map, result.settled]) {
    expect(refused).toMatchObject({ _tag: "RequestValidationError", task: "Work" })
  }
  expect(result.after).toMatchObject({ id: "after-bad" })
  const ran = readJsonLines<{ id: string }>(cluster.executions).map((entry) => entry.id)
  expect(ran.filter((id) => id.startsWith("map-good") || id.startsWith("settled-good"))).toEqual([])
}, 120_000)

it("a payload over 16 MiB is refused at the call, before the serializer; the connections keep working", async () => {
  const huge = "x".repeat(17 * 1024 * 1024)
  const keys = Array.from({ length: 8 }, (_, i) => `big-${i}`)
  const result = await run(
    Effect.gen(function* () {
      const pool = yield* ClusterPool.make(poolTasks, { timeout: "60 seconds" })
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "60 seconds" })
      const call = yield* settles(pool.apply(Work, { id: huge, ms: 0 }))
      const ask = yield* settles(accounts.get(keys[0]!).ask("SlowBalance", { millis: 0, journal: huge }))
      const asks = yield* settles(Effect.forEach(keys, (key) => whereOf(accounts, key), { concurrency: 8 }))
      const calls = yield* settles(
        pool.map(
          Work,
          keys.map((key) => ({ id: `after-${key}`, ms: 0 }))
        )
      )
      return { call, ask, asks, calls }
    })
  )
  expect(result.call).toMatchObject({
    _tag: "PayloadTooLarge",
    task: "Work",
    direction: "payload",
    limit: 16 * 1024 * 1024
  })
  expect(result.ask).toMatchObject({ _tag: "ArgumentEncodeError", task: "Account.SlowBalance" })
  expect((result.asks as Array<{ runner: string }>).map((where) => typeof where.runner)).toEqual(
    keys.map(() => "string")
  )
  expect((result.calls as Array<{ id: string }>).map((ran) => ran.id)).toEqual(keys.map((key) => `after-${key}`))
}, 120_000)

it("options of the wrong kind are an InvalidOption naming the option, where they are given", async () => {
  const database = cluster.database.url
  const job = { id: "options", ms: 0 }
  const built = <A, E>(layer: Layer.Layer<A, E>) => settles(Effect.scoped(Layer.build(layer)))
  const cases = await run(
    Effect.gen(function* () {
      const refs = (askTimeout: unknown) =>
        settles(ClusterClient.refs(Account, { askTimeout: askTimeout as never }).pipe(Effect.asVoid))
      const pool = (options: object) => settles(ClusterPool.make(poolTasks, options).pipe(Effect.asVoid))
      const good = yield* ClusterPool.make(poolTasks, { timeout: "60 seconds" })
      const runnerWith = (options: object) =>
        built(
          ClusterRunner.layer([AccountBehaviour], options).pipe(
            Layer.provide(NodeProcess.layer),
            Layer.provide(ClusterNode.layerClient({ database }))
          )
        )
      return [
        ["askTimeout", yield* refs(Number.NaN)],
        ["askTimeout", yield* refs(0)],
        ["askTimeout", yield* refs(-1000)],
        ["askTimeout", yield* refs("bogus")],
        ["concurrency", yield* pool({ concurrency: 0 })],
        ["retries", yield* pool({ retries: -1 })],
        ["name", yield* pool({ name: "" })],
        ["timeout", yield* pool({ timeout: Number.NaN })],
        ["timeout", yield* settles(good.apply(Work, job, { timeout: "bogus" as never }))],
        ["timeout", yield* settles(good.apply(Work, job, { timeout: -1 }))],
        ["retries", yield* settles(good.apply(Work, job, { retries: -3 }))],
        ["retries", yield* settles(good.map(Work, [job], { retries: 1.5 }))],
        ["port", yield* built(ClusterNode.layerRunner({ database, port: -1 }))],
        ["host", yield* built(ClusterNode.layerRunner({ database, host: "" }))],
        [
          "shardingConfig.shardsPerGroup",
          yield* built(ClusterNode.layerClient({ database, shardingConfig: { shardsPerGroup: 0 } }))
        ],
        ["options", yield* built(ClusterNode.layerClient(null as never))],
        ["maxIdleTime", yield* runnerWith({ maxIdleTime: -1 })],
        ["snapshotTable", yield* runnerWith({ snapshotTable: "" })]
      ] as const
    })
  )
  for (const [option, error] of cases) expect(error, option).toMatchObject({ _tag: "InvalidOption", option })
}, 180_000)

it("a task the caller lists but the runners do not serve fails with a RemoteDefect that says so", async () => {
  const result = await run(
    Effect.gen(function* () {
      const pool = yield* ClusterPool.make([...poolTasks, Unserved], { timeout: "60 seconds" })
      const unserved = yield* settles(pool.apply(Unserved, 3))
      const served = yield* settles(pool.apply(Work, { id: "served-after-unserved", ms: 0 }))
      return { unserved, served }
    })
  )
  expect(result.unserved).toMatchObject({ _tag: "RemoteDefect", task: "Unserved" })
  expect((result.unserved as { message: string }).message).toContain("does not serve task Unserved")
  expect(result.served).toMatchObject({ id: "served-after-unserved" })
}, 120_000)

it("a key PostgreSQL cannot store (a NUL, over 255 characters, a lone surrogate) is refused at the ask with RequestValidationError", async () => {
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "20 seconds" })
      const nul = yield* settles(accounts.get("a\u0000b").ask("Where", undefined))
      const long = yield* settles(accounts.get("k".repeat(256)).ask("Deposit", { amount: 1 }))
      const told = yield* settles(accounts.get("t\u0000").tell("Deposit", { amount: 1 }))
      const longest = yield* settles(accounts.get("k".repeat(255)).ask("Deposit", { amount: 1 }))
      // Lone surrogates: UTF-8 (the wire, PostgreSQL) would turn both into U+FFFD, one key for two.
      const high = yield* settles(accounts.get("s\uD800").ask("Deposit", { amount: 1 }))
      const low = yield* settles(accounts.get("s\uDC00").tell("Deposit", { amount: 1 }))
      const paired = yield* settles(accounts.get("s\uD83D\uDE00").ask("Deposit", { amount: 1 }))
      return { nul, long, told, longest, high, low, paired }
    })
  )
  expect(result.nul).toMatchObject({ _tag: "RequestValidationError", task: "Account.Where" })
  expect(result.long).toMatchObject({ _tag: "RequestValidationError", task: "Account.Deposit" })
  expect(result.told).toMatchObject({ _tag: "RequestValidationError", task: "Account.Deposit" })
  expect(result.longest).toBe(1)
  expect(result.high).toMatchObject({ _tag: "RequestValidationError", task: "Account.Deposit" })
  expect(result.low).toMatchObject({ _tag: "RequestValidationError", task: "Account.Deposit" })
  expect(result.paired).toBe(1)
}, 120_000)

it("a payload JSON cannot carry under Schema.Any (NaN, a function, a symbol) is refused at the ask with ArgumentEncodeError, as locally", async () => {
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "20 seconds" })
      const echo = (data: unknown) => settles(accounts.get("echo").ask("Echo", { data }))
      return {
        nan: yield* echo(Number.NaN),
        fn: yield* echo(() => 1),
        symbol: yield* echo(Symbol("s")),
        told: yield* settles(accounts.get("echo").tell("Echo", { data: [Number.POSITIVE_INFINITY] })),
        good: yield* echo({ a: [1, "x", null] })
      }
    })
  )
  // They used to be sent: NaN came back as null, a function or a symbol as a RemoteDefect from the host.
  for (const refused of [result.nan, result.fn, result.symbol, result.told]) {
    expect(refused).toMatchObject({ _tag: "ArgumentEncodeError", task: "Account.Echo" })
  }
  expect(result.good).toEqual({ a: [1, "x", null] })
}, 120_000)

it("a pool payload JSON cannot carry under Schema.Any (NaN, a function, a Date) is refused at the call with ArgumentEncodeError, as locally", async () => {
  const result = await run(
    Effect.gen(function* () {
      const pool = yield* ClusterPool.make(poolTasks, { timeout: "20 seconds" })
      const echo = (data: unknown) => settles(pool.apply(EchoAny, { data }))
      return {
        nan: yield* echo(Number.NaN),
        fn: yield* echo(() => 1),
        date: yield* echo(new Date(0)),
        hole: yield* echo([undefined]),
        good: yield* echo({ a: [1, "x", null] })
      }
    })
  )
  // They used to be sent: NaN and [undefined] arrived as null and [null], a Date as a string, a function failed
  // in the cluster's serializer as a RemoteDefect.
  for (const refused of [result.nan, result.fn, result.date, result.hole]) {
    expect(refused).toMatchObject({ _tag: "ArgumentEncodeError", task: "EchoAny" })
  }
  expect(result.good).toEqual({ a: [1, "x", null] })
}, 120_000)

it("a snapshot write PostgreSQL refuses fails the message with ActorDied at once; the next message reads the stored state", async () => {
  const key = "write-refused"
  // A trigger that refuses this key's snapshot writes, and nothing else's.
  cluster.database.query(`CREATE FUNCTION refuse_write() RETURNS trigger AS $$ BEGIN
      IF NEW.key = '${key}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`)
  onTestFinished(() => {
    cluster.database.query("DROP FUNCTION IF EXISTS refuse_write() CASCADE")
  })
  const result = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "20 seconds" })
      const account = accounts.get(key)
      yield* account.ask("Deposit", { amount: 10 })
      cluster.database.query(`CREATE TRIGGER refuse_write BEFORE UPDATE OF snapshot ON troupe_actor_snapshots
          FOR EACH ROW EXECUTE FUNCTION refuse_write()`)
      // A volatile message that changes the state: its write fails (it used to die, and the engine ran it again and
      // again until the database answered or the caller timed out).
      const withdraw = yield* settles(account.ask("Withdraw", { amount: 3 }))
      const deposit = yield* settles(account.ask("Deposit", { amount: 5 }))
      cluster.database.query("DROP TRIGGER refuse_write ON troupe_actor_snapshots")
      return { withdraw, deposit, balance: yield* settles(account.ask("Balance", undefined)) }
    })
  )
  for (const refused of [result.withdraw, result.deposit]) {
    expect(refused).toMatchObject({ _tag: "ActorDied", actor: "Account", key })
    expect((refused as { reason: string }).reason).toContain("could not be stored")
  }
  // Neither is in the stored state, and the instance started again from it.
  expect(result.balance).toBe(10)
}, 120_000)

it("calls in flight when their own node shuts down fail as that node's doing, not the runner's; later ones are not sent", async () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-client-shutdown-"))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const journal = join(dir, "runs.jsonl")
  const result = await Effect.runPromise(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const node = ClusterNode.layerClient({ database: cluster.database.url }).pipe(Layer.orDie)
      const context = yield* Layer.buildWithScope(node, scope)
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "60 seconds" }).pipe(Effect.provide(context))
      const pool = yield* ClusterPool.make(poolTasks, { timeout: "60 seconds" }).pipe(
        Effect.provide(context),
        Scope.provide(scope)
      )
      const ask = yield* Effect.forkDetach(
        Effect.exit(accounts.get("shutdown-ask").ask("SlowBalance", { millis: 5_000, journal }))
      )
      const call = yield* Effect.forkDetach(Effect.exit(pool.apply(Work, { id: "shutdown-call", ms: 5_000 })))
      // The ask has started in its instance; then this node's cluster client shuts down under both calls.
      yield* Effect.sleep("20 millis").pipe(Effect.repeat({ until: () => readJsonLines(journal).length >= 1 }))
      yield* Scope.close(scope, Exit.void)
      return {
        ask: outcome(yield* Fiber.join(ask)),
        call: outcome(yield* Fiber.join(call)),
        askAfter: yield* settles(accounts.get("shutdown-ask").ask("Balance", undefined)),
        callAfter: yield* settles(pool.apply(Work, { id: "shutdown-late", ms: 0 }))
      }
    })
  )
  // They used to be WorkerCrashed and ActorDied saying the runner stopped them.
  expect(result.ask).toMatchObject({ _tag: "ActorDied", actor: "Account", key: "shutdown-ask" })
  expect((result.ask as { reason: string }).reason).toContain("this node's cluster client shut down")
  expect(result.call).toMatchObject({ _tag: "ShutdownError", task: "Work", phase: "running" })
  expect((result.askAfter as { reason: string }).reason).toContain("the message was not sent")
  expect(result.callAfter).toMatchObject({ _tag: "PoolShuttingDown" })
}, 120_000)

it("a runner SIGKILLed with volatile asks in flight: each runs at most once, its caller gets ActorDied", async () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-volatile-"))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const journal = join(dir, "runs.jsonl")
  const keys = Array.from({ length: 12 }, (_, i) => `volatile-${i}`)
  const { placed, victim, exits } = await run(
    Effect.gen(function* () {
      const accounts = yield* ClusterClient.refs(Account, { askTimeout: "90 seconds" })
      const placed = yield* Effect.forEach(keys, (key) => whereOf(accounts, key), {
        concurrency: 6
      })
      const victim = placed[0]!.runner
      // Volatile asks on every key, long enough to be in flight on the victim when it dies.
      const fibers = yield* Effect.forEach(keys, (key) =>
        Effect.forkChild(Effect.exit(accounts.get(key).ask("SlowBalance", { millis: 8_000, journal })))
      )
      // Every one of them has started in its instance.
      yield* Effect.sleep("20 millis").pipe(
        Effect.repeat({ until: () => readJsonLines(journal).length >= keys.length })
      )
      cluster.runners.find((runner) => runner.id === victim)!.child.kill("SIGKILL")
      return { placed, victim, exits: yield* Fiber.joinAll(fibers) }
    })
  )
  const runs = readJsonLines<{ key: string; runner: string }>(journal)
  keys.forEach((key, index) => {
    const ranOn = runs.filter((entry) => entry.key === key).map((entry) => entry.runner)
    if (placed[index]!.runner === victim) {
      // It ran on the dead runner, and not again on the shard's next owner: its caller learns it may have run.
      expect(ranOn, key).toEqual([victim])
      expect(outcome(exits[index]!), key).toMatchObject({ _tag: "ActorDied", actor: "Account", key })
      expect((outcome(exits[index]!) as { reason: string }).reason).toContain("may have run")
    } else {
      expect(ranOn, key).toHaveLength(1)
      expect(Exit.isSuccess(exits[index]!), key).toBe(true)
    }
  })
  expect(placed.some((where) => where.runner !== victim)).toBe(true)
}, 120_000)
