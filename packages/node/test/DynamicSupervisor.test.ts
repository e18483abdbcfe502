/**
 * Dynamic supervision on real processes: a dynamic supervisor's children
 * started from one template with their own arguments (OTP's
 * `simple_one_for_one`), as process options or as a typed value decoded in
 * the child (`args`, `Actor.startArgs`), `maxChildren`, restarts, automatic
 * ids, the removal of a child that is not restarted; an `Actor.ignore` start
 * kept but not running, and started again with its group; dynamic operations
 * on a nested supervisor reached from the root.
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { it } from "@effect/vitest"
import { Supervisor } from "@troupe/core"
import { NodePool, NodeProcess } from "@troupe/node"
import { Effect, Exit, Ref, Schema, Stream } from "effect"
import { expect } from "vitest"
import { Counter, CounterBehaviour } from "./fixtures/actors.ts"
import { isRunning } from "./fixtures/os.ts"
import { eventually, tempFile } from "./fixtures/pool.ts"
import {
  Conn,
  ConnArgs,
  ConnBehaviour,
  LooseArgs,
  LooseArgsBehaviour,
  TypedConn,
  TypedConnBehaviour
} from "./fixtures/supervisionActors.ts"

const connection = Supervisor.template(ConnBehaviour, {
  restart: "permanent",
  shutdown: 2000,
  start: (args: { readonly name: string }) => ({ env: { CONN_NAME: args.name } })
})

it.live(
  "a dynamic supervisor starts children from its template with their own arguments, restarts a crashed one, refuses past maxChildren and stops them all",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.startDynamic({ maxChildren: 2, intensity: 3, period: "1 minute" }, connection)
      const a = yield* sup.startChild({ name: "alpha" })
      const b = yield* sup.startChild({ name: "beta" }, { id: "b" })
      expect([a, b]).toEqual(["1", "b"])
      const alpha = yield* sup.ref(a, Conn).ask("Info", undefined)
      const beta = yield* sup.ref(b, Conn).ask("Info", undefined)
      expect([alpha.name, alpha.key, beta.name, beta.key]).toEqual(["alpha", "1", "beta", "b"])
      expect(alpha.pid).not.toBe(beta.pid)

      const full = yield* Effect.exit(sup.startChild({ name: "gamma" }))
      expect(full).toMatchObject(Exit.fail({ _tag: "ChildOperationFailed", reason: "maxChildren" }))

      // A crash restarts only that child, with the same arguments.
      process.kill(alpha.pid, "SIGKILL")
      const again = yield* eventually(
        Effect.flatMap(sup.whichChildren, (children) =>
          children.find((child) => child.id === "1" && child.status === "running" && child.pid !== alpha.pid)
            ? Effect.orElseSucceed(sup.ref(a, Conn).ask("Info", undefined), () => undefined)
            : Effect.succeed(undefined)
        ),
        (info) => info !== undefined
      )
      expect(again?.name).toBe("alpha")
      expect((yield* sup.ref(b, Conn).ask("Info", undefined)).pid).toBe(beta.pid)

      // terminateChild removes it (as simple_one_for_one does); its slot is free again.
      yield* sup.terminateChild(b)
      expect(isRunning(beta.pid)).toBe(false)
      expect((yield* sup.countChildren).specs).toBe(1)
      const c = yield* sup.startChild({ name: "gamma" })
      expect((yield* sup.ref(c, Conn).ask("Info", undefined)).name).toBe("gamma")

      const pids = (yield* sup.whichChildren).map((child) => child.pid!)
      yield* sup.stop
      for (const pid of pids) expect(isRunning(pid)).toBe(false)
      expect(yield* Effect.exit(sup.startChild({ name: "late" }))).toMatchObject(
        Exit.fail({ _tag: "ChildOperationFailed", reason: "stopped" })
      )
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

const typedConnection = Supervisor.template(TypedConnBehaviour, { args: ConnArgs, shutdown: 2000 })

it.live(
  "a template's args reach the child as a value decoded there, the same after a restart; args that do not encode are refused at startChild",
  () =>
    Effect.gen(function* () {
      // A template's args must be a Schema: checked when the supervisor starts.
      const notASchema = { ...typedConnection, args: { host: "string" } } as unknown as typeof typedConnection
      expect(yield* Effect.exit(Supervisor.startDynamic({}, notASchema))).toMatchObject(
        Exit.fail({ _tag: "InvalidSupervisorSpec", field: "template.args" })
      )

      const sup = yield* Supervisor.startDynamic({ intensity: 3, period: "1 minute" }, typedConnection)
      const since = new Date(Date.UTC(2026, 0, 2, 3, 4, 5))
      const id = yield* sup.startChild({ name: "db", port: 5432, since })
      const first = yield* sup.ref(id, TypedConn).ask("Args", undefined)
      expect(first).toMatchObject({ name: "db", port: 5432, sinceIsDate: true, sinceMs: since.getTime() })
      expect(first.pid).not.toBe(process.pid)

      // A crash: the restarted child (another process) reads the same arguments.
      process.kill(first.pid, "SIGKILL")
      const again = yield* eventually(
        Effect.flatMap(sup.whichChildren, (children) =>
          children.find((child) => child.id === id && child.status === "running" && child.pid !== first.pid)
            ? Effect.orElseSucceed(sup.ref(id, TypedConn).ask("Args", undefined), () => undefined)
            : Effect.succeed(undefined)
        ),
        (info) => info !== undefined
      )
      expect(again?.pid).not.toBe(first.pid)
      expect({ ...again, pid: 0 }).toEqual({ ...first, pid: 0 })

      // Bad arguments are a typed error at startChild, naming the field; nothing is started or kept.
      const before = yield* sup.countChildren
      const fractional = yield* Effect.exit(sup.startChild({ name: "cache", port: 1.5, since }, { id: "cache" }))
      expect(fractional).toMatchObject(Exit.fail({ _tag: "InvalidSupervisorSpec", field: "cache.args" }))
      const notADate = yield* Effect.exit(
        sup.startChild({ name: "cache", port: 6379, since: "yesterday" } as unknown as typeof ConnArgs.Type)
      )
      expect(notADate).toMatchObject(Exit.fail({ _tag: "InvalidSupervisorSpec" }))
      expect(yield* sup.countChildren).toEqual(before)
      expect((yield* sup.ref(id, TypedConn).ask("Args", undefined)).pid).toBe(again?.pid)

      // In a tree, the field is named from the root; a good start still works after refusals.
      const tree = yield* Supervisor.start({}, [Supervisor.dynamic("conns", {}, typedConnection)])
      const conns = tree.dynamicAt("conns", typedConnection)
      expect(yield* Effect.exit(conns.startChild({ name: "x", port: -0.5, since }, { id: "x" }))).toMatchObject(
        Exit.fail({ _tag: "InvalidSupervisorSpec", field: "conns/x.args" })
      )
      const ok = yield* conns.startChild({ name: "x", port: 1, since }, { id: "x" })
      expect(yield* tree.ref(`conns/${ok}`, TypedConn).ask("Args", undefined)).toMatchObject({ name: "x", port: 1 })
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a dynamic supervisor in a tree is reached from the root; its children's args are typed by the template; a child past its intensity escalates",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start({ strategy: "oneForOne", intensity: 5, period: "1 minute" }, [
        Supervisor.worker("first", CounterBehaviour),
        Supervisor.supervisor("app", {}, [
          Supervisor.dynamic("conns", { intensity: 0, period: "1 minute" }, connection)
        ])
      ])
      const conns = sup.dynamicAt("app/conns", connection)
      const id = yield* conns.startChild({ name: "db" })
      const info = yield* sup.ref(`app/conns/${id}`, Conn).ask("Info", undefined)
      expect(info.name).toBe("db")
      // Another template is another dynamic supervisor: not found.
      const other = Supervisor.template(ConnBehaviour, { start: (_: number) => ({}) })
      expect(yield* Effect.exit(sup.dynamicAt("app/conns", other).countChildren)).toMatchObject(
        Exit.fail({ _tag: "ChildOperationFailed", reason: "notFound" })
      )
      // Intensity 0: the first crash makes the dynamic supervisor give up; "app" restarts it, empty.
      process.kill(info.pid, "SIGKILL")
      const connsNode = (root: Supervisor.TreeNode) =>
        root.children?.find((child) => child.id === "app")?.children?.find((child) => child.id === "conns")
      const restarted = yield* eventually(sup.tree, (root) => connsNode(root)?.restarts === 1)
      expect(connsNode(restarted)).toMatchObject({ status: "running", restarts: 1, children: [] })
      expect(restarted.children?.find((child) => child.id === "app")?.restarts).toBe(0)
      expect((yield* conns.countChildren).specs).toBe(0)
      expect(yield* sup.ref("first", Counter).ask("Increment", { by: 2 })).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "startChild, terminateChild, restartChild and deleteChild on a nested supervisor reached from the root",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start({}, [
        Supervisor.supervisor("outer", {}, [Supervisor.supervisor("inner", {}, [])])
      ])
      const inner = sup.at("outer/inner")
      yield* inner.startChild(Supervisor.worker("c", CounterBehaviour))
      expect(yield* sup.ref("outer/inner/c", Counter).ask("Increment", { by: 3 })).toBe(3)
      const [child] = yield* inner.whichChildren
      expect(child).toMatchObject({ id: "c", kind: "worker", status: "running" })
      yield* inner.terminateChild("c")
      expect(isRunning(child!.pid!)).toBe(false)
      expect((yield* inner.countChildren).active).toBe(0)
      yield* inner.restartChild("c")
      expect(yield* sup.ref("outer/inner/c", Counter).ask("Get", undefined)).toBe(0)
      yield* inner.terminateChild("c")
      yield* inner.deleteChild("c")
      expect(yield* inner.whichChildren).toEqual([])
      expect(yield* Effect.exit(sup.at("outer/nowhere").whichChildren)).toMatchObject(
        Exit.fail({ _tag: "ChildOperationFailed", reason: "notFound" })
      )
      const bad = yield* Effect.exit(
        inner.startChild(Supervisor.worker("d", CounterBehaviour, { significant: true, restart: "transient" }))
      )
      expect(bad).toMatchObject(Exit.fail({ _tag: "InvalidSupervisorSpec", field: "outer/inner/d.significant" }))
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a template's start gives only process options: one that throws is ChildStartFailed, bad options are refused, nothing starts",
  () =>
    Effect.gen(function* () {
      const withStart = (start: (args: { readonly name: string }) => unknown) =>
        Supervisor.template(ConnBehaviour, { shutdown: 2000, start: start as () => Supervisor.ProcessOptions })
      const throws = yield* Supervisor.startDynamic(
        {},
        withStart(() => {
          throw new Error("no such tenant")
        })
      )
      expect(yield* Effect.flip(throws.startChild({ name: "a" }))).toMatchObject({
        _tag: "ChildStartFailed",
        child: "1",
        message: "its template's start threw: no such tenant"
      })
      for (const [options, field] of [
        [{ env: 5 }, "2.env"],
        [{ execArgv: "--inspect" }, "3.execArgv"]
      ] as const) {
        const sup = yield* Supervisor.startDynamic(
          {},
          withStart(() => options)
        )
        const id = field.split(".")[0]!
        expect(yield* Effect.flip(sup.startChild({ name: "b" }, { id }))).toMatchObject({
          _tag: "InvalidSupervisorSpec",
          field
        })
        expect(yield* sup.whichChildren).toEqual([])
      }
      // It cannot change what the template fixes: the child keeps its id and restart type.
      const sneaky = yield* Supervisor.startDynamic(
        {},
        withStart((args) => ({ id: "other", restart: "bogus", env: { CONN_NAME: args.name } }))
      )
      const id = yield* sneaky.startChild({ name: "c" })
      expect(id).toBe("1")
      expect((yield* sneaky.ref(id, Conn).ask("Info", undefined)).name).toBe("c")
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a worker whose actor calls Actor.ignore is recorded, not running; restartChild starts it once it no longer ignores",
  () =>
    Effect.gen(function* () {
      const flag = tempFile("ignore")
      writeFileSync(flag, "on")
      const sup = yield* Supervisor.start({}, [
        Supervisor.worker("counter", CounterBehaviour),
        Supervisor.worker("maybe", ConnBehaviour, { env: { CONN_IGNORE_IF_EXISTS: flag, CONN_NAME: "maybe" } })
      ])
      expect(yield* sup.whichChildren).toMatchObject([
        { id: "counter", status: "running" },
        { id: "maybe", status: "stopped", pid: null }
      ])
      expect(yield* sup.countChildren).toEqual({ specs: 2, active: 1, supervisors: 0, workers: 2 })
      // Still ignoring: restartChild succeeds and the child stays recorded, not running.
      yield* sup.restartChild("maybe")
      expect((yield* sup.whichChildren)[1]).toMatchObject({ status: "stopped", pid: null })
      unlinkSync(flag)
      yield* sup.restartChild("maybe")
      const info = yield* sup.ref("maybe", Conn).ask("Info", undefined)
      expect(info.name).toBe("maybe")
      expect((yield* sup.whichChildren)[1]).toMatchObject({ status: "running", pid: info.pid })
      // startChild of an ignoring worker keeps its spec too.
      writeFileSync(flag, "on")
      yield* sup.startChild(Supervisor.worker("later", ConnBehaviour, { env: { CONN_IGNORE_IF_EXISTS: flag } }))
      expect((yield* sup.whichChildren)[2]).toMatchObject({ id: "later", status: "stopped", pid: null })
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "automatic ids skip the ids that explicit ones already took",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.startDynamic({ intensity: 3, period: "1 minute" }, connection)
      expect(yield* sup.startChild({ name: "two" }, { id: "2" })).toBe("2")
      expect(yield* sup.startChild({ name: "a" })).toBe("1")
      expect(yield* sup.startChild({ name: "b" })).toBe("3")
      expect((yield* sup.whichChildren).map((child) => [child.id, child.status])).toEqual([
        ["2", "running"],
        ["1", "running"],
        ["3", "running"]
      ])
      expect((yield* sup.ref("3", Conn).ask("Info", undefined)).name).toBe("b")
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a dynamic child that ends and is not restarted is removed (simple_one_for_one): its maxChildren slot is free again",
  () =>
    Effect.gen(function* () {
      const cases = [
        ["transient", "normal"],
        ["transient", "shutdown"],
        ["temporary", "crash"]
      ] as const
      for (const [restart, end] of cases) {
        const template = Supervisor.template(CounterBehaviour, { restart, start: (_: { readonly n: number }) => ({}) })
        const sup = yield* Supervisor.startDynamic({ maxChildren: 1, intensity: 3, period: "1 minute" }, template)
        const first = yield* sup.startChild({ n: 1 })
        const counter = sup.ref(first, Counter)
        // The ask's reply races the end of the process: only the end matters here.
        yield* Effect.exit(end === "crash" ? counter.ask("Crash", undefined) : counter.ask("Stop", { reason: end }))
        yield* eventually(sup.whichChildren, (children) => children.every((child) => child.status !== "running"))
        // startChild runs in the supervisor's loop, after the end was handled.
        const second = yield* Effect.exit(sup.startChild({ n: 2 }))
        expect([restart, end, second]).toMatchObject([restart, end, Exit.succeed("2")])
        expect((yield* sup.whichChildren).map((child) => child.id)).toEqual(["2"])
        expect(yield* Effect.exit(counter.ask("Get", undefined))).toMatchObject(Exit.fail({ _tag: "ActorDied" }))
      }
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

for (const strategy of ["oneForAll", "restForOne"] as const) {
  it.live(
    `${strategy}: an ignored child is started again with its group, as OTP does; only a start that brings it up counts as its restart`,
    () =>
      Effect.gen(function* () {
        const flag = tempFile("ignore")
        const starts = tempFile("starts")
        writeFileSync(flag, "on")
        const sup = yield* Supervisor.start({ strategy, intensity: 5, period: "1 minute" }, [
          Supervisor.worker("counter", CounterBehaviour),
          Supervisor.worker("maybe", ConnBehaviour, { env: { CONN_IGNORE_IF_EXISTS: flag, CONN_STARTS: starts } })
        ])
        const ignored = yield* Ref.make(0)
        yield* Effect.forkScoped(
          Stream.runForEach(sup.events, (event) =>
            event._tag === "ChildIgnored" ? Ref.update(ignored, (n) => n + 1) : Effect.void
          ),
          { startImmediately: true }
        )
        const builds = () => readFileSync(starts, "utf8").trim().split("\n").length
        const restarts = Effect.map(sup.tree, (tree) => tree.children?.map((child) => [child.id, child.restarts]))
        const crashCounter = Effect.flatMap(sup.ref("counter", Counter).ask("Pid", undefined), (pid) =>
          Effect.sync(() => process.kill(pid, "SIGKILL"))
        )
        expect(builds()).toBe(1)

        // The group restarts: "maybe" is built again (it restarts after "counter") and ignores again.
        yield* crashCounter
        yield* eventually(Ref.get(ignored), (n) => n === 1)
        expect(builds()).toBe(2)
        expect((yield* sup.whichChildren)[1]).toMatchObject({ id: "maybe", status: "stopped", pid: null })
        expect(yield* restarts).toEqual([
          ["counter", 1],
          ["maybe", 0]
        ])
        // Nor does a restartChild that it ignores count.
        yield* sup.restartChild("maybe")
        expect(builds()).toBe(3)
        expect(yield* restarts).toEqual([
          ["counter", 1],
          ["maybe", 0]
        ])

        // Once it no longer ignores, its group's next restart brings it up: that start counts.
        unlinkSync(flag)
        yield* crashCounter
        const up = yield* eventually(sup.whichChildren, (children) => children[1]?.status === "running")
        expect((yield* sup.ref("maybe", Conn).ask("Info", undefined)).pid).toBe(up[1]!.pid)
        expect(yield* restarts).toEqual([
          ["counter", 2],
          ["maybe", 1]
        ])
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
    60_000
  )
}

it.live(
  "an ignored start keeps no temporary child and no dynamic supervisor's child (OTP), so it holds no maxChildren slot",
  () =>
    Effect.gen(function* () {
      const flag = tempFile("ignore")
      writeFileSync(flag, "on")
      const ignoring = { CONN_IGNORE_IF_EXISTS: flag }
      const sup = yield* Supervisor.start({ maxChildren: 2 }, [
        Supervisor.worker("counter", CounterBehaviour),
        Supervisor.worker("tmp", ConnBehaviour, { restart: "temporary", env: ignoring })
      ])
      // A temporary child that ignores its start is not kept (OTP's sup_start_ignore_temporary_child): nothing
      // could ever start it again.
      yield* sup.startChild(Supervisor.worker("tmp2", ConnBehaviour, { restart: "temporary", env: ignoring }))
      expect((yield* sup.whichChildren).map((child) => child.id)).toEqual(["counter"])
      expect(yield* sup.countChildren).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 })

      // A dynamic supervisor has no restartChild: an ignoring child would hold its slot for good.
      const template = Supervisor.template(ConnBehaviour, {
        start: (args: { readonly ignore: boolean }) => ({ env: args.ignore ? ignoring : {} })
      })
      const dynamic = yield* Supervisor.startDynamic({ maxChildren: 1 }, template)
      const ignored = yield* dynamic.startChild({ ignore: true })
      expect(yield* dynamic.whichChildren).toEqual([])
      expect(() => dynamic.ref(ignored, Conn)).toThrow(`no worker at "${ignored}"`)
      const started = yield* dynamic.startChild({ ignore: false })
      expect((yield* dynamic.whichChildren).map((child) => [child.id, child.status])).toEqual([[started, "running"]])
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "a message to a child that ignored its start fails at once with ActorDied (OTP's noproc), not after its ask timeout",
  () =>
    Effect.gen(function* () {
      const flag = tempFile("ignore")
      writeFileSync(flag, "on")
      const sup = yield* Supervisor.start({}, [
        Supervisor.worker("maybe", ConnBehaviour, { env: { CONN_IGNORE_IF_EXISTS: flag } })
      ])
      const maybe = sup.ref("maybe", Conn)
      // The default ask timeout is 30 s: a bound of 10 s tells an immediate failure from a wait for it.
      const ask = yield* Effect.exit(maybe.ask("Info", undefined).pipe(Effect.timeout("10 seconds")))
      expect(ask).toMatchObject(Exit.fail({ _tag: "ActorDied" }))
      // restartChild brings it up once it no longer ignores, and the same ref reaches it.
      unlinkSync(flag)
      yield* sup.restartChild("maybe")
      expect((yield* maybe.ask("Info", undefined)).key).toBe("maybe")
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

for (const backend of ["process", "thread"] as const) {
  it.live(
    `${backend}: start arguments a process would receive changed (NaN, a Map, a bigint under Schema.Any) are refused at startChild, naming the field; no child starts`,
    () =>
      Effect.gen(function* () {
        const template = Supervisor.template(LooseArgsBehaviour, { args: Schema.Any, restart: "temporary" })
        const sup = yield* Supervisor.startDynamic({}, template)
        for (const [args, reason] of [
          [{ ratio: Number.NaN }, "args.ratio: NaN is not a JSON number"],
          [new Map([["a", 1]]), "args: a Map is not plain JSON data"],
          [{ big: 1n }, "args.big: a bigint is not JSON data"]
        ] as const) {
          const refused = yield* Effect.flip(sup.startChild(args, { id: "loose" }))
          expect(refused).toMatchObject({ _tag: "InvalidSupervisorSpec", field: "loose.args" })
          expect((refused as { reason: string }).reason).toContain(reason)
        }
        expect(yield* sup.countChildren).toMatchObject({ workers: 0 })
        const id = yield* sup.startChild({ ratio: 0.5 })
        expect(yield* sup.ref(id, LooseArgs).ask("Args", undefined)).toBe('{"ratio":0.5}')
      }).pipe(Effect.scoped, Effect.provide(NodePool.transport(backend))),
    60_000
  )
}
