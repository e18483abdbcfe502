/**
 * Asks per second through the cluster: Troupe's `ClusterClient` to a
 * `ClusterRunner` (instances in host processes) against raw `effect/cluster`
 * entities doing the same work on the same runner, in the same run.
 *
 *   node packages/cluster/bench/asks.ts [--runners 1] [--reps 5] [--volatile 600] [--persisted 150] [--hosts process]
 *
 * Each repetition runs both sides, alternating which goes first: `volatile`
 * `Get` asks and `persisted` `Increment` asks, 16 keys, 16 in flight. It
 * prints the median asks/s of each side and their ratio (Troupe / raw), and
 * where the CPU of an ask goes: microseconds of CPU per ask in the client
 * (this process), in the runners, and in the runners' child processes (the
 * host processes of Troupe's instances), read from `/proc`. `--hosts thread`
 * runs the instances in worker threads of the runner instead of processes.
 */
import { readFileSync } from "node:fs"
import { loadavg } from "node:os"
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
    persisted: { type: "string", default: "150" },
    hosts: { type: "string", default: "process" }
  }
})
process.env.TROUPE_BENCH_HOSTS = values.hosts
const keys = Array.from({ length: 16 }, (_, i) => `bench-${i}`)
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const cluster = await makeCluster(fileURLToPath(new URL("./runner.ts", import.meta.url)))

/** CPU time of a process in microseconds (utime + stime from /proc), 0 once it is gone. */
const cpuOfPid = (pid: number) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100
  } catch {
    return 0
  }
}
/** A process's children, from `/proc` (no subprocess: spawning one per reading would cost the client CPU). */
const childrenOf = (pid: number): Array<number> => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(" ")
      .filter((field) => field.length > 0)
      .map(Number)
  } catch {
    return []
  }
}
/** CPU so far of the client, the runners and the runners' descendants (host processes), in microseconds. */
const cpuNow = () => {
  const runners = cluster.runners.map((runner) => runner.child.pid!)
  const descendants: Array<number> = []
  const queue = runners.flatMap(childrenOf)
  while (queue.length > 0) {
    const pid = queue.pop()!
    descendants.push(pid)
    queue.push(...childrenOf(pid))
  }
  const own = process.cpuUsage()
  return {
    client: own.user + own.system,
    runner: runners.reduce((sum, pid) => sum + cpuOfPid(pid), 0),
    hosts: descendants.reduce((sum, pid) => sum + cpuOfPid(pid), 0)
  }
}

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
  type Cpu = ReturnType<typeof cpuNow>
  const cpu: Record<string, Record<string, Array<Cpu>>> = {
    troupe: { volatile: [], persisted: [] },
    raw: { volatile: [], persisted: [] }
  }
  const rate = (call: Call, n: number, into?: Array<Cpu>) =>
    Effect.gen(function* () {
      const before = cpuNow()
      const start = performance.now()
      yield* Effect.forEach(
        Array.from({ length: n }, (_, i) => keys[i % keys.length]!),
        call,
        {
          concurrency: 16,
          discard: true
        }
      )
      const elapsed = performance.now() - start
      const after = cpuNow()
      into?.push({
        client: (after.client - before.client) / n,
        runner: (after.runner - before.runner) / n,
        hosts: (after.hosts - before.hosts) / n
      })
      return (n / elapsed) * 1000
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
      results[name]!.volatile.push(yield* rate(sides[name]!.volatile, Number(values.volatile), cpu[name]!.volatile))
      results[name]!.persisted.push(yield* rate(sides[name]!.persisted, Number(values.persisted), cpu[name]!.persisted))
    }
  }
  for (const kind of ["volatile", "persisted"] as const) {
    const t = median(results.troupe![kind])
    const r = median(results.raw![kind])
    console.log(`${kind}: troupe=${t.toFixed(0)}/s raw=${r.toFixed(0)}/s ratio=${(t / r).toFixed(2)}x`)
    for (const name of ["troupe", "raw"]) {
      const per = (part: keyof Cpu) => median(cpu[name]![kind]!.map((sample) => sample[part])).toFixed(0)
      console.log(`  ${name} CPU per ask (us): client=${per("client")} runner=${per("runner")} hosts=${per("hosts")}`)
    }
  }
  console.log(
    `hosts=${values.hosts} load average: ${loadavg()
      .map((n) => n.toFixed(1))
      .join(" ")}`
  )
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
