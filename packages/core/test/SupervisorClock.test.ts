/**
 * The supervisor runtime in memory: a tree over `TestTransport` (each worker
 * a child runner in this process) under `TestClock`, so strategies, restart
 * types, intensity, backoff and shutdown order are exact and need no real
 * process and no real wait. What only real processes show (exit codes of a
 * kill, signals reaching a process group) stays in @troupe/node's tests.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Supervisor, TestTransport, Transport } from "@troupe/core"
import { Effect, Exit, Ref, Schema, Scope, Stream } from "effect"
import { Rpc } from "effect/rpc"
import { TestClock } from "effect/testing"
import { closeDriven, driven, joinSoon, settle, until, untilEffect } from "./fixtures/clock.ts"

const Counter = Actor.make("SupervisorClock.test/Counter", [
  Rpc.make("Increment", { success: Schema.Int }),
  Rpc.make("Get", { success: Schema.Int }),
  Rpc.make("Quit", {})
] as const)

const CounterBehaviour = Actor.behaviour(
  Counter,
  Effect.gen(function* () {
    const count = yield* Ref.make(0)
    return {
      Increment: () => Ref.updateAndGet(count, (n) => n + 1),
      Get: () => Ref.get(count),
      Quit: () => Actor.exit("normal")
    }
  })
)

/** Never finishes stopping: its finalizer hangs, so only SIGKILL ends its process. */
const Stuck = Actor.make("SupervisorClock.test/Stuck", [Rpc.make("Get", { success: Schema.Int })] as const)

const StuckBehaviour = Actor.behaviour(
  Stuck,
  Effect.gen(function* () {
    yield* Effect.addFinalizer(() => Effect.never)
    return { Get: () => Effect.succeed(0) }
  })
)

/** A tree over a fresh in-memory transport, its events recorded from the start; its shutdown follows the test clock. */
const withTree = <A, E>(
  options: Supervisor.Options,
  children: ReadonlyArray<Supervisor.ChildSpec>,
  body: (tree: Tree) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const test = TestTransport.make()
    const scope = yield* Scope.make()
    const sup = yield* Supervisor.start(options, children).pipe(
      Scope.provide(scope),
      Effect.provideService(Transport.Transport, test.transport)
    )
    const events: Array<Supervisor.Event> = []
    // Subscribed now: every event from here on is recorded, in order, the tree's shutdown too.
    const recording = yield* Scope.make()
    const pull = yield* Stream.toPull(sup.events).pipe(Scope.provide(recording))
    yield* Effect.forkIn(
      Effect.forever(Effect.flatMap(pull, (chunk) => Effect.sync(() => events.push(...chunk)))),
      recording
    )
    const result = yield* body({ sup, test, events, scope })
    yield* closeDriven(scope)
    yield* settle
    yield* Scope.close(recording, Exit.void)
    return result
  })

interface Tree {
  readonly sup: Supervisor.Supervisor
  readonly test: TestTransport.TestTransport
  readonly events: Array<Supervisor.Event>
  readonly scope: Scope.Closeable
}

/** The pid of each worker by id (`null` when not running), from the tree snapshot. */
const pids = (sup: Supervisor.Supervisor) =>
  Effect.map(sup.tree, (root) =>
    Object.fromEntries((root.children ?? []).map((child) => [child.id, child.status === "running" ? child.pid : null]))
  )

/** The in-memory child running the worker `id`. */
const childOf = (tree: Tree, id: string) =>
  Effect.map(pids(tree.sup), (all) => tree.test.children.find((child) => child.pid === all[id])!)

/** Crashes the worker `id` (its process exits with code 1), as a kill would. */
const crash = (tree: Tree, id: string) =>
  Effect.map(childOf(tree, id), (child) => child.exit({ code: 1, signal: null }))

/** Waits until every worker in `ids` runs again with a pid other than `before`'s. */
const untilRestarted = (tree: Tree, before: Record<string, number | null>, ids: ReadonlyArray<string>) =>
  untilEffect(pids(tree.sup), (now) => ids.every((id) => now[id] !== null && now[id] !== before[id]))

/** Waits until the recorded events satisfy `check` (an event is recorded a few turns after it happens). */
const untilEvents = (tree: Tree, check: (events: ReadonlyArray<Supervisor.Event>) => boolean) =>
  until(() => check(tree.events))

/** The events after the first one that satisfies `from` (inclusive). */
const since = (events: ReadonlyArray<Supervisor.Event>, from: (event: Supervisor.Event) => boolean) =>
  events.slice(Math.max(0, events.findIndex(from)))

const worker = (id: string, options?: Parameters<typeof Supervisor.worker>[2]) =>
  Supervisor.worker(id, CounterBehaviour, options)

const three = [worker("c1"), worker("c2"), worker("c3")]

const tags = (events: ReadonlyArray<Supervisor.Event>, tag: Supervisor.Event["_tag"]) =>
  events.filter((event) => event._tag === tag).map((event) => event.path)

describe("Supervisor over TestTransport, under TestClock", () => {
  it.effect("oneForOne: only the crashed child restarts; its siblings keep their process and their state", () =>
    withTree({ strategy: "oneForOne", intensity: 5 }, three, (tree) =>
      Effect.gen(function* () {
        const c2 = tree.sup.ref("c2", Counter)
        expect(yield* c2.ask("Increment", undefined)).toBe(1)
        const before = yield* pids(tree.sup)
        yield* crash(tree, "c1")
        const after = yield* untilRestarted(tree, before, ["c1"])
        expect(after.c2).toBe(before.c2)
        expect(after.c3).toBe(before.c3)
        expect(yield* c2.ask("Get", undefined)).toBe(1)
        yield* untilEvents(tree, (events) => tags(events, "ChildStarted").length === 1)
        expect(tags(tree.events, "ChildStopped")).toEqual([])
        expect(tags(tree.events, "ChildRestarting")).toEqual(["c1"])
      })
    )
  )

  it.effect("oneForAll: the others stop right to left, then all restart left to right", () =>
    withTree({ strategy: "oneForAll", intensity: 5 }, three, (tree) =>
      Effect.gen(function* () {
        const c1 = tree.sup.ref("c1", Counter)
        expect(yield* c1.ask("Increment", undefined)).toBe(1)
        const before = yield* pids(tree.sup)
        yield* crash(tree, "c2")
        yield* untilRestarted(tree, before, ["c1", "c2", "c3"])
        yield* untilEvents(tree, (events) => tags(events, "ChildStarted").length === 3)
        const restart = since(tree.events, (event) => event._tag === "ChildExited")
        expect(restart.map((event) => `${event._tag} ${event.path}`)).toEqual([
          "ChildExited c2",
          "ChildStopped c3",
          "ChildStopped c1",
          "ChildRestarting c2",
          "ChildStarted c1",
          "ChildStarted c2",
          "ChildStarted c3"
        ])
        // A stopped sibling was asked to stop (SIGTERM) and ended cleanly.
        expect(restart.find((event) => event._tag === "ChildStopped")).toMatchObject({ code: 0, signal: null })
        // c1's process was replaced: its `Ref` state starts again.
        expect(yield* c1.ask("Get", undefined)).toBe(0)
      })
    )
  )

  it.effect("restForOne: the children after the crashed one stop and restart with it; those before it stay", () =>
    withTree({ strategy: "restForOne", intensity: 5 }, three, (tree) =>
      Effect.gen(function* () {
        const before = yield* pids(tree.sup)
        yield* crash(tree, "c2")
        const after = yield* untilRestarted(tree, before, ["c2", "c3"])
        expect(after.c1).toBe(before.c1)
        yield* untilEvents(tree, (events) => tags(events, "ChildStarted").length === 2)
        expect(tree.events.map((event) => `${event._tag} ${event.path}`)).toEqual([
          "ChildExited c2",
          "ChildStopped c3",
          "ChildRestarting c2",
          "ChildStarted c2",
          "ChildStarted c3"
        ])
      })
    )
  )

  it.effect("intensity: a restart exactly `period` ago still counts, so the next crash gives up", () =>
    withTree({ strategy: "oneForOne", intensity: 1, period: "5 seconds" }, three, (tree) =>
      Effect.gen(function* () {
        const before = yield* pids(tree.sup)
        yield* crash(tree, "c1")
        const after = yield* untilRestarted(tree, before, ["c1"])
        yield* TestClock.adjust("5 seconds")
        yield* crash(tree, "c1")
        yield* untilEffect(tree.sup.tree, (root) => root.status === "failed")
        const exit = yield* Effect.exit(tree.sup.join)
        expect(Exit.findErrorOption(exit)).toMatchObject({
          value: { _tag: "RestartIntensityExceeded", restarts: 2, periodMs: 5000 }
        })
        // Giving up stops the others right to left; their mailboxes fail with `ActorDied`.
        yield* untilEvents(tree, (events) => tags(events, "SupervisorGaveUp").length === 1)
        expect(tags(tree.events, "ChildStopped")).toEqual(["c3", "c2"])
        expect(tree.test.alive()).toEqual([])
        const ask = yield* Effect.exit(tree.sup.ref("c2", Counter).ask("Get", undefined))
        expect(Exit.findErrorOption(ask)).toMatchObject({ value: { _tag: "ActorDied" } })
        expect(after.c2).toBe(before.c2)
      })
    )
  )

  it.effect("intensity: a restart one millisecond older than `period` has left the window", () =>
    withTree({ strategy: "oneForOne", intensity: 1, period: "5 seconds" }, three, (tree) =>
      Effect.gen(function* () {
        const before = yield* pids(tree.sup)
        yield* crash(tree, "c1")
        const after = yield* untilRestarted(tree, before, ["c1"])
        yield* TestClock.adjust("5001 millis")
        yield* crash(tree, "c1")
        yield* untilRestarted(tree, after, ["c1"])
        expect(tags(tree.events, "SupervisorGaveUp")).toEqual([])
        expect((yield* tree.sup.tree).status).toBe("running")
      })
    )
  )

  it.effect("backoff: restarts wait exactly min, then twice that; a stable run resets it", () =>
    withTree(
      { strategy: "oneForOne", intensity: 10, backoff: { min: "100 millis", max: "1 second", randomFactor: 0 } },
      [worker("c1")],
      (tree) =>
        Effect.gen(function* () {
          const delays = () => tree.events.flatMap((event) => (event._tag === "ChildRestarting" ? [event.delayMs] : []))
          /** Crashes c1, checks that it restarts after exactly `delay` ms on the test clock, not a millisecond sooner. */
          const crashAndRestartAfter = (delay: number) =>
            Effect.gen(function* () {
              const before = yield* pids(tree.sup)
              const count = delays().length
              yield* crash(tree, "c1")
              yield* untilEvents(tree, () => delays().length === count + 1)
              expect(delays().at(-1)).toBe(delay)
              yield* TestClock.adjust(`${delay - 1} millis`)
              yield* settle
              expect((yield* pids(tree.sup)).c1).toBeNull()
              yield* TestClock.adjust("1 millis")
              yield* untilRestarted(tree, before, ["c1"])
            })
          yield* crashAndRestartAfter(100)
          yield* crashAndRestartAfter(200)
          yield* crashAndRestartAfter(400)
          // resetAfter defaults to (min + max) / 2 = 550 ms: a run that long ends the run of failures.
          yield* TestClock.adjust("550 millis")
          yield* crashAndRestartAfter(100)
        })
    )
  )

  it.effect("shutdown stops the children right to left, each with SIGTERM, and each exits cleanly", () =>
    withTree({}, three, (tree) =>
      Effect.gen(function* () {
        // What closing the tree's scope runs.
        yield* driven(tree.sup.stop)
        yield* untilEvents(tree, (events) => tags(events, "ChildStopped").length === 3)
        expect(tags(tree.events, "ChildStopped")).toEqual(["c3", "c2", "c1"])
        expect(tree.test.children.map((child) => child.signals)).toEqual([["SIGTERM"], ["SIGTERM"], ["SIGTERM"]])
        expect(tree.test.children.map((child) => child.exitStatus()?.code)).toEqual([0, 0, 0])
        expect(yield* Effect.exit(tree.sup.join)).toEqual(Exit.void)
      })
    )
  )

  it.effect("shutdown: a worker that does not stop gets SIGKILL exactly `shutdown` ms after SIGTERM", () =>
    withTree({}, [worker("c1"), Supervisor.worker("stuck", StuckBehaviour, { shutdown: 1000 })], (tree) =>
      Effect.gen(function* () {
        const stuck = yield* childOf(tree, "stuck")
        const stopping = yield* Effect.forkDetach(tree.sup.stop)
        yield* until(() => stuck.signals.length === 1)
        expect(stuck.signals).toEqual(["SIGTERM"])
        yield* TestClock.adjust("999 millis")
        yield* settle
        expect(stuck.signals).toEqual(["SIGTERM"])
        yield* TestClock.adjust("1 millis")
        yield* joinSoon(stopping)
        expect(stuck.signals).toEqual(["SIGTERM", "SIGKILL"])
        expect(stuck.exitStatus()).toMatchObject({ code: null, signal: "SIGKILL" })
        // c1 stops only after the stuck worker to its right has gone.
        yield* untilEvents(tree, (events) => tags(events, "ChildStopped").length === 2)
        expect(tags(tree.events, "ChildStopped")).toEqual(["stuck", "c1"])
      })
    )
  )

  it.effect("transient: restarted after a crash, not after a normal exit; temporary: never, and removed", () =>
    withTree(
      { strategy: "oneForOne", intensity: 5 },
      [worker("t", { restart: "transient" }), worker("tmp", { restart: "temporary" }), worker("p")],
      (tree) =>
        Effect.gen(function* () {
          const before = yield* pids(tree.sup)
          yield* crash(tree, "t")
          const after = yield* untilRestarted(tree, before, ["t"])
          // A normal exit (`Actor.exit("normal")`) of a transient child: kept, not restarted.
          yield* tree.sup.ref("t", Counter).ask("Quit", undefined)
          yield* untilEffect(pids(tree.sup), (now) => now.t === null)
          yield* crash(tree, "tmp")
          yield* untilEvents(tree, (events) => tags(events, "ChildRemoved").length === 1)
          yield* settle
          expect((yield* tree.sup.whichChildren).map(({ id, status }) => `${id} ${status}`)).toEqual([
            "t stopped",
            "p running"
          ])
          expect(tags(tree.events, "ChildRestarting")).toEqual(["t"])
          expect(tags(tree.events, "ChildRemoved")).toEqual(["tmp"])
          expect((yield* pids(tree.sup)).p).toBe(after.p)
        })
    )
  )

  it.effect("escalation: a nested supervisor past its intensity gives up, and its parent restarts it", () =>
    withTree(
      { strategy: "oneForOne", intensity: 5 },
      [worker("c1"), Supervisor.supervisor("sup", { intensity: 0 }, [worker("w")], { restart: "transient" })],
      (tree) =>
        Effect.gen(function* () {
          const nestedPid = Effect.map(tree.sup.at("sup").whichChildren, (children) =>
            children[0]?.status === "running" ? children[0].pid : null
          )
          const before = yield* nestedPid
          const c1 = (yield* pids(tree.sup)).c1
          tree.test.children.find((child) => child.pid === before)!.exit({ code: 1, signal: null })
          // Intensity 0: the first crash is one too many for "sup"; the root sees "sup" end abnormally.
          yield* untilEffect(
            Effect.exit(nestedPid),
            (exit) => Exit.isSuccess(exit) && exit.value !== null && exit.value !== before
          )
          yield* untilEvents(tree, (events) => tags(events, "ChildRestarting").length === 1)
          expect(tags(tree.events, "SupervisorGaveUp")).toEqual(["sup"])
          // An abnormal end: even a transient child is restarted after it.
          expect(tree.events.find((event) => event._tag === "ChildExited" && event.path === "sup")).toMatchObject({
            reason: "abnormal"
          })
          expect(tags(tree.events, "ChildRestarting")).toEqual(["sup"])
          expect((yield* pids(tree.sup)).c1).toBe(c1)
          expect((yield* tree.sup.tree).status).toBe("running")
        })
    )
  )

  it.effect("autoShutdown anySignificant: a significant child's normal end shuts the tree down, right to left", () =>
    withTree(
      { autoShutdown: "anySignificant" },
      [worker("c1"), worker("main", { restart: "transient", significant: true }), worker("c3")],
      (tree) =>
        Effect.gen(function* () {
          yield* tree.sup.ref("main", Counter).ask("Quit", undefined)
          expect(yield* joinSoon(yield* Effect.forkChild(tree.sup.join))).toBeUndefined()
          yield* untilEvents(tree, (events) => tags(events, "ChildStopped").length === 2)
          expect(tags(tree.events, "ChildExited")).toEqual(["main"])
          expect(tags(tree.events, "ChildStopped")).toEqual(["c3", "c1"])
          expect(tags(tree.events, "ChildRestarting")).toEqual([])
        })
    )
  )
})
