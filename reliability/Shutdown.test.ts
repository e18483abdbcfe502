/**
 * Shutdown under load: a graceful close drains everything submitted, even
 * callers still waiting for room in a full queue; a forced close of a pool,
 * a supervision tree and a keyed group whose children ignore SIGTERM and
 * have started grandchildren leaves no process alive one second after the
 * deadline (S45); closing twice is harmless. Processes are checked in /proc.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { type Actor, Keyed, Pool, Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Duration, Effect, Exit, Fiber, Scope } from "effect"
import { Stuck, StuckBehaviour } from "./fixtures/actors.ts"
import { groupMembers, survivorsAfter, troupeDescendants } from "./fixtures/os.ts"
import { tempFile } from "./fixtures/paths.ts"
import { Stubborn, Work } from "./fixtures/tasks.ts"
import { report } from "./report.ts"

const failureTag = (exit: Exit.Exit<unknown, unknown>) => {
  const error = Exit.findErrorOption(exit)
  return error._tag === "Some" ? (error.value as { _tag: string })._tag : Exit.isSuccess(exit) ? "ok" : "defect"
}

describe("shutdown under load", () => {
  it.live(
    "a graceful close drains 3,000 submitted tasks (2,000 still waiting for queue room); later calls are refused",
    () =>
      Effect.gen(function* () {
        const tasks = 3000
        const scope = yield* Scope.make()
        const pool = yield* Pool.make({ size: 4, queueSize: 1000, tasks: [Work] }).pipe(
          Scope.provide(scope),
          Effect.provide(NodeProcess.layer)
        )
        yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
        const baseline = troupeDescendants()
        yield* Effect.sleep(20).pipe(
          Effect.andThen(pool.stats),
          Effect.repeat({ until: (stats) => stats.workers.every((worker) => worker.state === "ready") })
        )
        const fibers = yield* Effect.forEach(
          Array.from({ length: tasks }, (_, i) => i),
          (i) => Effect.forkChild(pool.apply(Work, { n: i, ms: i % 10 === 0 ? 2 : 0 }), { startImmediately: true })
        )
        const before = yield* pool.stats
        const workers = troupeDescendants().filter((pid) => !baseline.includes(pid))
        expect(workers).toHaveLength(4)
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
        const exits = yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber))
        const values = exits.map((exit) => (Exit.isSuccess(exit) ? exit.value : failureTag(exit)))
        const refused = yield* Effect.exit(pool.apply(Work, { n: 0, ms: 0 }))
        const survivors = yield* Effect.promise(() => survivorsAfter(workers, 2000))
        report("graceful close under load", {
          tasks,
          queuedAtClose: before.queued,
          inFlightAtClose: before.inFlight,
          closeMs: Math.round(Duration.toMillis(elapsed)),
          succeeded: exits.filter(Exit.isSuccess).length
        })
        expect(values).toEqual(Array.from({ length: tasks }, (_, i) => i))
        expect(failureTag(refused)).toBe("PoolShuttingDown")
        expect(survivors).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a forced close of a pool, a supervision tree and a keyed group, children ignoring SIGTERM with grandchildren: nothing alive 1 s after the deadline; closing twice is harmless",
    () =>
      Effect.gen(function* () {
        const file = tempFile("stubborn")
        writeFileSync(file, "")
        const graceMs = 500
        const baseline = troupeDescendants()
        const scope = yield* Scope.make()
        yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
        const started = yield* Effect.gen(function* () {
          const pool = yield* Pool.make({
            size: 4,
            shutdown: { timeout: graceMs },
            killTimeout: graceMs
          })
          const stubborn = yield* Effect.forEach(Array.from({ length: 4 }), () =>
            Effect.forkChild(pool.apply(Stubborn, file))
          )
          const tree = yield* Supervisor.start({ strategy: "oneForOne" }, [
            Supervisor.worker("a", StuckBehaviour, { shutdown: graceMs }),
            Supervisor.supervisor("inner", { strategy: "oneForAll" }, [
              Supervisor.worker("b", StuckBehaviour, { shutdown: graceMs }),
              Supervisor.worker("c", StuckBehaviour, { shutdown: graceMs })
            ])
          ])
          const keyed = yield* Keyed.make(StuckBehaviour, { hosts: 2, shutdown: graceMs })
          const refs: Array<Actor.ActorRef<typeof Stuck>> = [
            tree.ref("a", Stuck),
            tree.ref("inner/b", Stuck),
            tree.ref("inner/c", Stuck),
            ...["k0", "k1", "k2", "k3"].map((key) => keyed.get(key) as unknown as Actor.ActorRef<typeof Stuck>)
          ]
          const actorGrandchildren = yield* Effect.forEach(refs, (ref) => ref.ask("Spawn", undefined))
          const actorPids = yield* Effect.forEach(refs, (ref) => ref.ask("Pid", undefined))
          return { stubborn, tree, actorGrandchildren, actorPids }
        }).pipe(Scope.provide(scope), Effect.provide(NodeProcess.layer))

        const lines = yield* Effect.promise(async () => {
          for (;;) {
            const found = readFileSync(file, "utf8").trim().split("\n").filter(Boolean)
            if (found.length === 4) return found
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
        })
        const poolPids = lines.map((line) => Number(line.split(" ")[0]))
        const poolGrandchildren = lines.map((line) => Number(line.split(" ")[1]))
        const known = [...poolPids, ...poolGrandchildren, ...started.actorPids, ...started.actorGrandchildren]
        // What the operating system sees below this process: at least every process the library reported.
        const everything = troupeDescendants().filter((pid) => !baseline.includes(pid))
        for (const pid of known) expect(everything).toContain(pid)
        expect(new Set(started.actorPids).size).toBe(5)

        // Finalizers run in reverse: the keyed hosts stop in parallel, the tree right to left, then the pool
        // drains for its timeout and kills after its kill timeout.
        const deadlineMs = graceMs + 3 * graceMs + 2 * graceMs
        const closing = Date.now()
        yield* Scope.close(scope, Exit.void)
        const closeMs = Date.now() - closing
        const survivors = yield* Effect.promise(() =>
          survivorsAfter(everything, Math.max(0, closing + deadlineMs + 1000 - Date.now()))
        )
        const groups = groupMembers([...poolPids, ...started.actorPids])
        const exits = yield* Effect.forEach(started.stubborn, (fiber) => Fiber.await(fiber))

        const again = Date.now()
        yield* Scope.close(scope, Exit.void)
        yield* started.tree.stop
        const secondCloseMs = Date.now() - again
        report("forced close", {
          processes: everything.length,
          deadlineMs,
          closeMs,
          secondCloseMs,
          survivors: survivors.length
        })
        expect(closeMs).toBeLessThanOrEqual(deadlineMs + 1000)
        expect(survivors).toEqual([])
        expect(groups).toEqual([])
        expect(exits.map(failureTag)).toEqual(["ShutdownError", "ShutdownError", "ShutdownError", "ShutdownError"])
        // Closing twice is harmless: the second close has nothing left to wait for (a hang bound).
        expect(secondCloseMs).toBeLessThan(5000)
        expect(troupeDescendants().filter((pid) => !baseline.includes(pid))).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )
})
