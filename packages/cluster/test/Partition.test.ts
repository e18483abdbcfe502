/**
 * A network partition, on real processes, a real PostgreSQL and hosts of
 * their own: three runners, each in a network namespace joined to the root
 * namespace by a veth pair on a bridge, reaching PostgreSQL through a
 * forwarder on the bridge (fixtures/netns.ts). Under continuous persisted
 * deposits from a client in the root namespace, one runner's link is taken
 * down: it is cut from the database and from the other runners at once, but
 * it keeps running. Every activation and stop is logged by the runners' host
 * processes on the shared filesystem, the cut-off runner's included.
 *
 * Checked while cut off: its accounts answer on the other runners (the time
 * is measured), no acknowledged deposit is lost, the cut-off runner stops
 * its instances by itself (its shard locks are unreachable) and starts
 * none. What `effect/cluster` 4.1 does not give: an instance caught in the
 * middle of a message at the cut is not stopped until the link is back, so
 * its key is active on two runners for that time; the test reports these
 * keys and checks that they are the only ones. After the heal: those
 * instances stop, the runner serves accounts again, no other key is ever
 * active twice, no acknowledged deposit is lost. Needs root and `ip netns`
 * (docs/cluster.md).
 */
import { ClusterClient } from "@troupe/cluster"
import { Effect, Exit, type Scope } from "effect"
import type { Sharding } from "effect/cluster/Sharding"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Account } from "./fixtures/account.ts"
import { type Cluster, makeCluster, overlaps, type Runner, readActivations } from "./fixtures/harness.ts"
import { accountsNamed, runClient, shardsSettled, underLoad, waitUntilMoved } from "./fixtures/load.ts"
import { makeNetwork, type Network } from "./fixtures/netns.ts"

let network: Network | undefined
let cluster: Cluster | undefined
const ids = ["r1", "r2", "r3"]

beforeAll(async () => {
  network = await makeNetwork(ids.length)
  const hosts = network.hosts
  const gateway = network.gateway
  const port = await network.forward({ host: "127.0.0.1", port: 5432 })
  cluster = await makeCluster(undefined, (id, database) => {
    const host = hosts[ids.indexOf(id)]!
    return {
      wrapper: host.wrapper,
      host: host.address,
      database: database.url.replace("127.0.0.1:5432", `${gateway}:${port}`)
    }
  })
  await Promise.all(ids.map((id) => cluster!.start(id)))
  await shardsSettled(cluster.database.url, ids.length)
}, 300_000)

afterAll(async () => {
  try {
    await cluster?.close()
  } finally {
    await network?.close()
  }
}, 60_000)

const keys = accountsNamed("partition")
let victim: Runner
let cutAt = 0
let healedAt = 0
/** The keys whose instance on the cut-off runner was still up when another runner started them. */
let lingering: Array<string> = []

const keyOf = (overlap: string) => overlap.slice(0, overlap.indexOf(":"))

/** Prints the log entries of the keys that overlap, relative to the cut: the report of a split brain. */
const explain = (found: ReadonlyArray<string>) => {
  const log = readActivations(cluster!.activations)
  for (const line of found) {
    const entries = log.filter((entry) => entry.key === keyOf(line))
    const relative = entries.map((e) => `${e.runner}(${e.pid}) ${e.event} ${e.at - cutAt} ms`)
    console.log(
      `active twice: ${line}\n  ${relative.join("\n  ")}\n  (heal at ${healedAt === 0 ? "-" : healedAt - cutAt} ms)`
    )
  }
  return found
}

const run = <A, E>(effect: Effect.Effect<A, E, Sharding | Scope.Scope>) => runClient(cluster!.database.url)(effect)

/** Where each account answers from now (`-` when its ask failed, while its shard moves). */
const placement = Effect.gen(function* () {
  const accounts = yield* ClusterClient.refs(Account, { askTimeout: "5 seconds" })
  const exits = yield* Effect.forEach(keys, (key) => Effect.exit(accounts.get(key).ask("Where", undefined)), {
    concurrency: 8
  })
  return exits.map((exit) => (Exit.isSuccess(exit) ? exit.value.runner : "-"))
})

/** The runner an overlap's first instance ran on (`key: r1(pid) until …, r2(pid) from …`). */
const firstRunnerOf = (overlap: string) => /^[^:]+: ([^(]+)\(/.exec(overlap)?.[1]

it("a runner cut off by a partition: its accounts answer elsewhere, none lost, it starts nothing while cut off", async () => {
  const result = await run(
    underLoad(keys, () =>
      Effect.gen(function* () {
        // Where the accounts are right before the cut (shards may have moved since the cluster settled).
        const placed = yield* placement
        const victimId = placed.find((where) => where !== "-")!
        victim = cluster!.runners.find((runner) => runner.id === victimId)!
        const victimKeys = keys.filter((_, i) => placed[i] === victimId)
        network!.cut(network!.hosts[ids.indexOf(victimId)]!)
        cutAt = Date.now()
        const moved = yield* Effect.forEach(victimKeys, (key) => waitUntilMoved(key, victimId, cutAt), {
          concurrency: "unbounded"
        })
        return { victimKeys, moved }
      })
    )
  )
  const { victimKeys, moved } = result.outcome
  const log = readActivations(cluster!.activations)
  const onVictim = log.filter((entry) => entry.runner === victim.id && entry.at >= cutAt)
  const elsewhere = log.filter(
    (entry) =>
      entry.runner !== victim.id && entry.event === "start" && entry.at >= cutAt && victimKeys.includes(entry.key)
  )
  const twice = explain(overlaps(log, new Map()))
  lingering = twice.filter((line) => firstRunnerOf(line) === victim.id).map(keyOf)
  const ms = moved.map((m) => m.ms).sort((a, b) => a - b)
  const stops = onVictim.filter((entry) => entry.event === "stop").map((entry) => entry.at - cutAt)
  console.log(
    `partition of ${victim.id} (${victimKeys.length} accounts): first_answer_ms=${ms[0]} all_answer_ms=${ms.at(-1)} ` +
      `stops_on_cut_off_runner=${stops.length} last_stop_ms=${Math.max(...stops)} ` +
      `first_start_elsewhere_ms=${Math.min(...elsewhere.map((e) => e.at - cutAt))} ` +
      `left_up_on_cut_off_runner=${lingering.length} other_overlaps=${twice.length - lingering.length} ${result.summary}`
  )
  expect(victimKeys.length).toBeGreaterThan(0)
  expect(result.lost).toEqual([])
  // The cut-off runner is alive and found its shard locks unreachable (it stops their entities: self-fencing)...
  expect(victim.child.exitCode).toBeNull()
  expect(victim.output()).toContain("Shard lock storage is unhealthy")
  // ...and started nothing while cut off. The keys active twice are reported above: those whose
  // instance it could not stop in time (see docs/cluster.md, "A network partition") are its own...
  expect(onVictim.filter((entry) => entry.event === "start")).toEqual([])
  for (const key of lingering) expect(victimKeys).toContain(key)
  // ...and no other key was ever active on two runners.
  expect(twice.filter((line) => firstRunnerOf(line) !== victim.id)).toEqual([])
}, 300_000)

it("the partition heals: the cut-off runner stops what it could not, serves again, none active twice, none lost", async () => {
  expect(victim, "the partition test ran first").toBeDefined()
  const result = await run(
    underLoad(keys, () =>
      Effect.gen(function* () {
        network!.heal(network!.hosts[ids.indexOf(victim.id)]!)
        healedAt = Date.now()
        while (true) {
          const where = yield* placement
          if (victim.child.exitCode !== null) return { back: false, ms: Date.now() - healedAt }
          if (where.includes(victim.id)) return { back: true, ms: Date.now() - healedAt }
          yield* Effect.sleep("500 millis")
        }
      })
    )
  )
  const log = readActivations(cluster!.activations)
  // The first stop of each instance left up on the cut-off runner, after the cut.
  const lingeringStops = lingering.map((key) => {
    const stop = log.find((e) => e.key === key && e.runner === victim.id && e.event === "stop" && e.at >= cutAt)
    return stop === undefined ? "never" : `${stop.at - healedAt}`
  })
  console.log(
    `healed: ${victim.id} ${result.outcome.back ? "serves accounts again" : "exited"} ${result.outcome.ms} ms after the heal; ` +
      `its ${lingering.length} instances left up stopped ${lingeringStops.join(", ")} ms after the heal; ${result.summary}`
  )
  expect(result.lost).toEqual([])
  expect(result.outcome.back).toBe(true)
  // Every key active twice is one of the partition's, and its instance on the cut-off runner has stopped now.
  const twice = explain(overlaps(log, new Map()))
  expect([...new Set(twice.map(keyOf))].sort()).toEqual([...new Set(lingering)].sort())
  for (const line of twice) expect(line).not.toContain("until Infinity")
}, 300_000)
