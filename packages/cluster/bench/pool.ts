/**
 * Cluster-pool tasks per second with 1, 2 and 3 runners, in one run: the
 * runners are the tests' (`test/fixtures/runner.ts`, a local pool of two
 * worker processes each), started one after the other; after each start the
 * bench waits until tasks reach every runner, then measures.
 *
 *   node packages/cluster/bench/pool.ts [--reps 3] [--tasks 300] [--ms 20] [--concurrency 64]
 *
 * `WorkWithRetries` sleeps `ms` in a worker: with `--ms 20` each runner can
 * run at most 100 tasks/s (two workers), so the figure shows how capacity
 * adds up over runners; with `--ms 0` it shows the cluster's own cost per
 * task. (Its retries cover a call interrupted by a shard still moving to the
 * runner just started.) It prints the median tasks/s of `reps` repetitions
 * for each number of runners, and the load average before and after.
 */
import { loadavg } from "node:os"
import { parseArgs } from "node:util"
import { ClusterNode, ClusterPool } from "@troupe/cluster"
import { Effect, Exit, Layer } from "effect"
import { makeCluster } from "../test/fixtures/harness.ts"
import { poolTasks, WorkWithRetries } from "../test/fixtures/poolTasks.ts"

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    tasks: { type: "string", default: "300" },
    ms: { type: "string", default: "20" },
    concurrency: { type: "string", default: "64" }
  }
})
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const tasks = Number(values.tasks)
const ms = Number(values.ms)

const cluster = await makeCluster()

const measure = (runners: number) =>
  Effect.gen(function* () {
    const pool = yield* ClusterPool.make(poolTasks, { concurrency: Number(values.concurrency) })
    // Wait until the shards have settled over every runner: tasks come back from all of them.
    for (;;) {
      const exits = yield* pool.mapSettled(
        WorkWithRetries,
        Array.from({ length: 60 }, (_, i) => ({ id: `warm-${i}`, ms: 0 }))
      )
      const seen = new Set(exits.filter(Exit.isSuccess).map((exit) => exit.value.runner))
      if (seen.size === runners && exits.every(Exit.isSuccess)) break
      yield* Effect.sleep("500 millis")
    }
    const rates: Array<number> = []
    for (let rep = 0; rep < Number(values.reps); rep++) {
      const start = performance.now()
      yield* pool.map(
        WorkWithRetries,
        Array.from({ length: tasks }, (_, i) => ({ id: `bench-${rep}-${i}`, ms }))
      )
      rates.push((tasks / (performance.now() - start)) * 1000)
    }
    return median(rates)
  }).pipe(Effect.scoped, Effect.provide(ClusterNode.layerClient({ database: cluster.database.url }).pipe(Layer.orDie)))

try {
  const load = () =>
    loadavg()
      .map((n) => n.toFixed(1))
      .join(" ")
  console.log(`load average before: ${load()}`)
  const results: Array<string> = []
  for (const runners of [1, 2, 3]) {
    await cluster.start(`r${runners}`)
    const rate = await Effect.runPromise(measure(runners))
    results.push(`runners=${runners} tasks/s=${rate.toFixed(0)}`)
    console.log(results.at(-1))
  }
  console.log(`ms=${ms} tasks=${tasks} reps=${values.reps}: ${results.join(", ")}; load average after: ${load()}`)
} finally {
  await cluster.close()
}
