/**
 * Process context (`Process.current`, `Process.activeChildren`) and the
 * fork-bomb guard, in real children on both backends.
 */
import { expect, it } from "@effect/vitest"
import { Pool, Process, Supervisor } from "@troupe/core"
import { NodePool, NodeProcess } from "@troupe/node"
import { Effect, Fiber, Stream } from "effect"
import { Counter, CounterBehaviour } from "./fixtures/actors.ts"
import * as Bomb from "./fixtures/bomb.ts"
import * as C from "./fixtures/context.ts"
import { isRunning } from "./fixtures/os.ts"
import { backends, tempFile } from "./fixtures/pool.ts"
import { fixture, leftOf, startProgram } from "./fixtures/program.ts"

interface Current {
  readonly name: string
  readonly pid: number
  readonly parentPid?: number
  readonly isChild: boolean
  readonly pool?: { readonly name: string; readonly worker: number }
  readonly task?: { readonly name: string; readonly id: number; readonly attempt: number }
}

for (const backend of backends) {
  it.live(
    `${backend}: Process.current in a pool task names the worker that runs it, and the attempt after a retry`,
    () =>
      Effect.gen(function* () {
        const pool = yield* Pool.make({ size: 2, name: "ctx" })
        const retried = yield* Stream.runHead(Stream.filter(pool.events, (event) => event._tag === "TaskRetried")).pipe(
          Effect.forkScoped
        )
        // The first attempt kills its worker mid-task; the retry answers.
        const reply = yield* pool.apply(C.WhoAmI, { ticks: tempFile("ticks"), crashes: 1 }, { retries: 1 })
        const { current, forked } = JSON.parse(reply) as { current: Current; forked: Current }
        const retry = yield* Fiber.join(retried)
        if (retry._tag === "None") return expect.fail("the pool published no TaskRetried event")
        const { attempt, taskId } = retry.value
        expect(attempt).toBe(2)
        expect(current.task).toEqual({ name: "ctx/WhoAmI", id: taskId, attempt: 2 })
        // The pool's own view of its workers: the one with the pid that answered is at the index it reported.
        const stats = yield* pool.stats
        const worker = stats.workers.find((w) => w.pid === current.pid)
        expect(worker).toBeDefined()
        expect(current.pool).toEqual({ name: "ctx", worker: worker!.slot })
        expect(current.name).toBe(`ctx-${worker!.slot}`)
        expect(current.isChild).toBe(true)
        expect(current.parentPid).toBe(process.pid)
        // A fiber the handler forked sees the same task.
        expect(forked).toEqual(current)
        // Code outside the run's fibers still sees the process, not a task.
        const detached = JSON.parse(yield* pool.apply(C.Detached, undefined)) as Current
        expect(detached.isChild).toBe(true)
        expect(detached.pool?.name).toBe("ctx")
        expect(detached.task).toBeUndefined()
      }).pipe(Effect.scoped, Effect.provide(NodePool.transport(backend))),
    60_000
  )

  it.live(
    `${backend}: a child that starts a process or a pool while importing its task modules is refused, typed`,
    () =>
      Effect.gen(function* () {
        for (const mode of ["process", "pool"]) {
          const env = { ...process.env, TROUPE_TEST_BOMB: mode, TROUPE_TEST_BOMB_DEPTH: "2" }
          const said = yield* Effect.scoped(
            Effect.flatMap(Pool.make({ size: 1, env }), (pool) => pool.apply(Bomb.Probe, undefined))
          )
          expect(said).toContain("StartedWhileBootstrapping")
          expect(said).toContain(`new ${mode}`)
          expect(said).toContain("import.meta.main")
        }
      }).pipe(Effect.provide(NodePool.transport(backend)))
  )
}

it.live("Process.current in the main program and in a Process child; activeChildren across processes and pools", () =>
  Effect.gen(function* () {
    const main = yield* Process.current
    expect(main).toMatchObject({ name: "main", pid: process.pid, isChild: false })
    expect(main.task).toBeUndefined()
    const child = yield* Process.start(Bomb.Hang, undefined, { name: "solo" })
    const pool = yield* Pool.make({ size: 2, name: "ctx", start: "eager" })
    yield* pool.apply(C.Detached, undefined)
    const sup = yield* Supervisor.start({}, [Supervisor.worker("a", CounterBehaviour)])
    const actorPid = yield* sup.ref("a", Counter).ask("Pid", undefined)
    const listed = yield* Process.activeChildren
    const stats = yield* pool.stats
    expect(listed).toHaveLength(4)
    expect(listed).toEqual(
      expect.arrayContaining([
        { pid: actorPid, name: `child-${actorPid}`, kind: "actor", pool: undefined },
        { pid: child.pid, name: "solo", kind: "process", pool: undefined },
        ...stats.workers.map((w) => ({
          pid: w.pid,
          name: `ctx-${w.slot}`,
          kind: "worker",
          pool: { name: "ctx", worker: w.slot }
        }))
      ])
    )
    // An exited child is no longer active, even before its scope reaps it.
    yield* child.kill
    yield* child.join
    expect((yield* Process.activeChildren).map((c) => c.pid)).not.toContain(child.pid)
    const named = yield* Process.start(C.WhoAmI, { ticks: tempFile("ticks"), crashes: 0 }, { name: "named" })
    const { current } = JSON.parse(yield* named.result) as { current: Current }
    expect(current).toMatchObject({ name: "named", pid: named.pid, parentPid: process.pid, isChild: true })
    expect(current.pool).toBeUndefined()
    expect(current.task).toMatchObject({ name: "ctx/WhoAmI", attempt: 1 })
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
)

it.live("after the scopes close, no child is active", () =>
  Effect.gen(function* () {
    yield* Effect.scoped(Effect.flatMap(Pool.make({ size: 2, start: "eager" }), (pool) => pool.stats))
    expect(yield* Process.activeChildren).toEqual([])
  }).pipe(Effect.provide(NodeProcess.layer))
)

it("a program that starts a process at import time (no import.meta.main guard): its child refuses to start another, and a SIGKILL of the program leaves no process behind", async () => {
  const program = startProgram(fixture("bomb.ts"), ["process", "3"])
  const { outcome } = JSON.parse(await program.nextLine()) as { outcome: string }
  expect(outcome).toContain("StartedWhileBootstrapping")
  const { hanging } = JSON.parse(await program.nextLine()) as { hanging: number }
  expect(isRunning(hanging)).toBe(true)
  process.kill(program.pid, "SIGKILL")
  expect(await program.exited).toEqual({ code: null, signal: "SIGKILL" })
  expect(await leftOf(program)).toEqual([])
}, 60_000)
