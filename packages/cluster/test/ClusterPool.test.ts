/**
 * The cluster pool on three runner processes and this process as a client,
 * on a real PostgreSQL: the program asks for `Pool` and gets it from
 * `ClusterPool.layer`; tasks spread over all runners, each run on a worker
 * process of its runner's local pool, with the task's typed errors. Then a
 * runner is SIGKILLed under load: every call settles within a bound, the
 * calls it held without retries fail with `WorkerCrashed` and none ran
 * twice (every run is logged by the task itself), the calls with retries
 * all succeed, and no call that was not the dead runner's fails.
 */

import { readFileSync } from "node:fs"
import { ClusterNode, ClusterPool } from "@troupe/cluster"
import { Pool } from "@troupe/core"
import { Effect, Exit, Fiber, Layer, type Scope } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type Cluster, makeCluster } from "./fixtures/harness.ts"
import { poolTasks, Work, WorkWithRetries } from "./fixtures/poolTasks.ts"

interface Execution {
  readonly id: string
  readonly event: "start" | "end"
  readonly runner: string
  readonly pid: number
  readonly at: number
}

const readExecutions = (file: string): Array<Execution> => {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line))
  } catch {
    return []
  }
}

let cluster: Cluster

beforeAll(async () => {
  cluster = await makeCluster()
  await Promise.all(["r1", "r2", "r3"].map((id) => cluster.start(id)))
}, 120_000)

afterAll(() => cluster?.close(), 60_000)

const run = <A, E>(effect: Effect.Effect<A, E, Pool.Pool | Scope.Scope>) =>
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

it("spreads tasks over all three runners' local pools, with the task's typed errors", async () => {
  const ids = Array.from({ length: 60 }, (_, i) => `spread-${i}`)
  const { ran, refused } = await run(
    Effect.gen(function* () {
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
  const { onceExits, retriedExits, inFlightAtKill, settledMs } = await run(
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
