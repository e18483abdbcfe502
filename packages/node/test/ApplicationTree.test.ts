/**
 * Pools and keyed groups as children of a supervision tree, on real
 * processes: one tree (a pool, a keyed group, a dynamic supervisor, a
 * worker) stops in reverse start order, every process reaped; a pool past
 * its restart intensity gives up and the tree restarts it, as OTP escalates.
 */
import { it } from "@effect/vitest"
import { Supervisor } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Effect, Exit, Fiber, Option, Ref, Stream } from "effect"
import { expect } from "vitest"
import { Counter, CounterBehaviour } from "./fixtures/actors.ts"
import { isRunning } from "./fixtures/os.ts"
import { eventually } from "./fixtures/pool.ts"
import { Conn, ConnBehaviour } from "./fixtures/supervisionActors.ts"
import { Square } from "./fixtures/tasks.ts"

const connection = Supervisor.template(ConnBehaviour, {
  start: (name: string) => ({ env: { CONN_NAME: name } })
})

it.live(
  "a tree of a pool, a keyed group, a dynamic supervisor and a worker serves, then stops in reverse start order with every process reaped",
  () =>
    Effect.gen(function* () {
      const events = yield* Ref.make<ReadonlyArray<Supervisor.Event>>([])
      const sup = yield* Supervisor.start({ strategy: "oneForOne", intensity: 3, period: "1 minute" }, [
        Supervisor.pool("workers", { size: 2, tasks: [Square] }),
        Supervisor.keyed("counters", CounterBehaviour, { hosts: 2 }),
        Supervisor.dynamic("conns", { maxChildren: 10 }, connection),
        Supervisor.worker("audit", CounterBehaviour)
      ])
      yield* Stream.runForEach(sup.events, (event) => Ref.update(events, (all) => [...all, event])).pipe(
        Effect.forkScoped
      )
      expect((yield* sup.whichChildren).map(({ id, kind, status }) => [id, kind, status])).toEqual([
        ["workers", "pool", "running"],
        ["counters", "keyed", "running"],
        ["conns", "supervisor", "running"],
        ["audit", "worker", "running"]
      ])
      const pool = yield* sup.poolAt("workers")
      expect(yield* pool.map(Square, [1, 2, 3])).toEqual([1, 4, 9])
      const counters = yield* sup.keyedAt("counters", Counter)
      expect(yield* counters.get("user-1").ask("Increment", { by: 5 })).toBe(5)
      const id = yield* sup.dynamicAt("conns", connection).startChild("db")
      const conn = yield* sup.ref(`conns/${id}`, Conn).ask("Info", undefined)
      expect(conn.name).toBe("db")
      expect(yield* Effect.exit(sup.poolAt("counters"))).toMatchObject(Exit.fail({ reason: "notFound" }))
      expect(yield* Effect.exit(sup.keyedAt("counters", Conn))).toMatchObject(Exit.fail({ reason: "notFound" }))

      const pids = [
        ...(yield* pool.stats).workers.map((worker) => worker.pid),
        ...(yield* counters.pids),
        conn.pid,
        (yield* sup.whichChildren)[3]!.pid
      ]
      expect(pids.every((pid) => typeof pid === "number" && isRunning(pid))).toBe(true)
      yield* sup.stop
      const stopped = (yield* eventually(
        Ref.get(events),
        (all) => all.filter((e) => e._tag === "ChildStopped").length >= 5
      ))
        .filter((event) => event._tag === "ChildStopped")
        .map((event) => event.path)
      expect(stopped).toEqual(["audit", `conns/${id}`, "conns", "counters", "workers"])
      for (const pid of pids) expect(isRunning(pid!)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a pool past its restart intensity gives up in a tree, and the tree restarts it: a new pool serves",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start({ strategy: "oneForOne", intensity: 2, period: "1 minute" }, [
        Supervisor.pool("workers", { size: 1, tasks: [Square], intensity: 0, period: "1 minute" }),
        Supervisor.worker("other", CounterBehaviour)
      ])
      const events = yield* Ref.make<ReadonlyArray<Supervisor.Event>>([])
      yield* Stream.runForEach(sup.events, (event) => Ref.update(events, (all) => [...all, event])).pipe(
        Effect.forkScoped
      )
      const first = yield* sup.poolAt("workers")
      const gaveUp = yield* Effect.forkScoped(
        Stream.runHead(Stream.filter(first.events, (event) => event._tag === "PoolGaveUp"))
      )
      yield* Effect.sleep(20)
      expect(yield* first.apply(Square, 3)).toBe(9)
      const otherPid = (yield* sup.whichChildren)[1]!.pid
      const [worker] = (yield* first.stats).workers
      process.kill(worker!.pid!, "SIGKILL")
      // The first pool gave up (intensity 0); the tree saw an abnormal end and restarted it.
      expect(Option.isSome(yield* Fiber.join(gaveUp))).toBe(true)
      const exited = yield* eventually(Ref.get(events), (all) =>
        all.some((event) => event._tag === "ChildExited" && event.path === "workers")
      )
      expect(exited.find((event) => event._tag === "ChildExited")).toMatchObject({
        path: "workers",
        reason: "abnormal"
      })
      const tree = yield* eventually(
        sup.tree,
        (root) => root.children?.[0]?.restarts === 1 && root.children[0].status === "running"
      )
      expect(tree.children?.[0]).toMatchObject({ id: "workers", kind: "pool", status: "running", restarts: 1 })
      const second = yield* sup.poolAt("workers")
      expect(second).not.toBe(first)
      expect(yield* second.apply(Square, 4)).toBe(16)
      // oneForOne: the sibling was not touched.
      expect((yield* sup.whichChildren)[1]!.pid).toBe(otherPid)
      expect(yield* sup.ref("other", Counter).ask("Increment", { by: 1 })).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)
