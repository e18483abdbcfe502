/**
 * The pool's lifecycle on real forked workers: recycling (S25-S28), the
 * initializer, balancers, and shutdown (S44, S45), checked with the
 * operating system where processes are concerned.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Balancer, Pool, type TroupeError } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Duration, Effect, Exit, Fiber, Scope } from "effect"
import { survivorsAfter } from "./fixtures/os.ts"
import { backends, eventually, livePids, range, tempFile, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"
import { NoteRun } from "./fixtures/slowImport.ts"
import { HoldResource, HoldSlowRelease } from "./fixtures/tasks.ts"

describe.each(backends)("Pool on %s: recycling", (backend) => {
  it.live(
    "S25 maxTasksPerWorker retires each worker after its 10th task; all results are right",
    () =>
      withPool(backend, { size: 3, maxTasksPerWorker: 10 }, (pool) =>
        Effect.gen(function* () {
          const initial = yield* eventually(livePids(pool), (pids) => pids.length === 3)
          const pids = yield* pool.map(
            T.Pid,
            range(100).map(() => 5),
            { chunkSize: 1 }
          )
          const counts = new Map<number, number>()
          for (const pid of pids) counts.set(pid, (counts.get(pid) ?? 0) + 1)
          expect(Math.max(...counts.values())).toBeLessThanOrEqual(10)
          expect(counts.size).toBeGreaterThanOrEqual(10)
          const final = yield* eventually(livePids(pool), (live) => live.length === 3)
          expect(final.filter((pid) => initial.includes(pid))).toEqual([])
          expect(yield* pool.map(T.Square, range(30), { chunkSize: 1 })).toEqual(range(30).map((i) => i * i))
        })
      ),
    60_000
  )

  it.live(
    "a worker that crashes while it retires (its maxTasksPerWorker dispatched) is a crash: a restart, counted toward the intensity",
    () =>
      withPool(backend, { size: 1, maxTasksPerWorker: 3, intensity: 1, onExceeded: "giveUp" }, (pool) =>
        Effect.gen(function* () {
          yield* eventually(livePids(pool), (pids) => pids.length === 1)
          // A worker takes the three at once (prefetched), so it is retiring from its first reply (a replacement
          // that ran the last round's third task, at once); the second task ends it, the third never started and
          // runs on the replacement.
          const round = Effect.forEach(
            range(3),
            (i) => Effect.exit(pool.apply(T.CrashAt, { i, crashAt: 1, ms: i === 0 ? 50 : 200, mode: "exit" })),
            { concurrency: "unbounded" }
          )
          const first = yield* round
          expect(first.map((exit) => (Exit.isSuccess(exit) ? "ok" : "failed"))).toEqual(["ok", "failed", "ok"])
          expect(Exit.findErrorOption(first[1]!)).toMatchObject({ value: { _tag: "WorkerCrashed", exitCode: 3 } })
          yield* round
          // Two crashes within the period, past an intensity of 1: the pool gave up. A crash of a retiring worker
          // used to count as its retirement, so a recycled pool never gave up (nor backed off) however often it
          // crashed, and stats.restarts missed it.
          const stats = yield* pool.stats
          expect(stats.workerExits["code 3"]).toBe(2)
          expect(stats.restarts).toBe(2)
          const refused = yield* Effect.flip(pool.apply(T.Square, 2))
          expect(refused._tag).toBe("RestartIntensityExceeded")
        })
      ),
    60_000
  )

  it.live(
    "S26 recycling never strands queued work, even with an immediate shutdown",
    () =>
      Effect.gen(function* () {
        for (const [size, max, tasks] of [
          [1, 2, 6],
          [2, 2, 8]
        ] as const) {
          const values = yield* withPool(backend, { size, maxTasksPerWorker: max }, (pool) =>
            pool.map(
              T.Delay,
              range(tasks).map((i) => ({ value: i * 2, ms: 10 })),
              { chunkSize: 1 }
            )
          )
          expect(values).toEqual(range(tasks).map((i) => i * 2))
        }
        const early = yield* Effect.scoped(
          Effect.gen(function* () {
            // Six workers start one after another while the scope drains: at load 20 that passed the default
            // 10 s drain deadline, which is what stranded the queue then, so the deadline here is a hang bound.
            const pool = yield* Pool.make({ size: 1, maxTasksPerWorker: 1, shutdown: { timeout: "90 seconds" } })
            // Started immediately: every task is submitted before the scope closes.
            return yield* Effect.forEach(range(6), (i) =>
              Effect.forkChild(pool.apply(T.Delay, { value: i * 2, ms: 10 }), { startImmediately: true })
            )
          })
        ).pipe(Effect.provide(NodePool.transport(backend)))
        const values = yield* Effect.forEach(early, (fiber) => Fiber.join(fiber))
        expect(values).toEqual(range(6).map((i) => i * 2))
      }),
    180_000
  )

  it.live(
    "S44 callers still waiting for room in a full queue settle too when the close drops queued work (ShutdownError)",
    () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* Pool.make({ size: 1, prefetch: 0, queueSize: 1, shutdown: { drain: "inFlight" } }).pipe(
          Scope.provide(scope),
          Effect.provide(NodePool.transport(backend))
        )
        // One runs, one is queued, three wait for room in the queue (a map's chunks among them).
        const fibers = yield* Effect.forEach(range(4), (i) =>
          Effect.forkChild(pool.apply(T.Delay, { value: i, ms: 300 }), { startImmediately: true })
        )
        const mapping = yield* Effect.forkChild(
          pool.map(T.Delay, [
            { value: 8, ms: 300 },
            { value: 9, ms: 300 }
          ]),
          { startImmediately: true }
        )
        yield* eventually(pool.stats, (stats) => stats.queued === 1 && stats.inFlight === 1)
        yield* Scope.close(scope, Exit.void)
        // The running call finishes; the rest fail (those waiting for room used to wait for ever).
        const all: ReadonlyArray<Fiber.Fiber<unknown, unknown>> = [...fibers, mapping]
        const exits = yield* Effect.forEach(all, (fiber) => Fiber.await(fiber).pipe(Effect.timeout("20 seconds")))
        const tags = exits.map((exit) => {
          const error = Exit.findErrorOption(exit)
          return Exit.isSuccess(exit) ? "ok" : error._tag === "Some" ? (error.value as { _tag: string })._tag : "die"
        })
        expect(tags).toEqual(["ok", "ShutdownError", "ShutdownError", "ShutdownError", "ShutdownError"])
      }),
    60_000
  )

  // Resident memory and process groups belong to processes: threads share both with the parent.
  if (backend === "process")
    it.live(
      "S27 a worker whose memory passes the limit retires after its task; every call succeeds",
      () =>
        withPool(backend, { size: 1, maxMemoryPerWorkerMb: 200 }, (pool) =>
          Effect.gen(function* () {
            const pids: Array<number> = []
            for (let call = 0; call < 10; call++) pids.push(yield* pool.apply(T.Leak, 50))
            expect(new Set(pids).size).toBeGreaterThan(1)
            expect(pids).toHaveLength(10)
          })
        ),
      60_000
    )

  it.live(
    "S28 idle workers retire after the idle timeout; the next task starts one again; sequential tasks reuse one",
    () =>
      withPool(backend, { size: 2, start: "lazy", idleTimeout: "1 second" }, (pool) =>
        Effect.gen(function* () {
          const a = yield* pool.apply(T.Pid, 0)
          const b = yield* pool.apply(T.Pid, 0)
          const c = yield* pool.apply(T.Pid, 0)
          expect(new Set([a, b, c]).size).toBe(1)
          const shrunk = yield* eventually(pool.stats, (s) => s.workers.every((w) => w.state === "empty"))
          expect(shrunk.workers.every((w) => w.state === "empty")).toBe(true)
          const d = yield* pool.apply(T.Pid, 0)
          expect(d).not.toBe(a)
        })
      ),
    30_000
  )

  it.live(
    "idle retirement leaves minSize workers, even when the idle timers of a burst's workers fire together",
    () =>
      withPool(backend, { size: 4, minSize: 2, idleTimeout: "300 millis" }, (pool) =>
        Effect.gen(function* () {
          const ready = (stats: Pool.Stats) => stats.workers.filter((worker) => worker.state === "ready").length
          // The workers take part in the burst, so they go idle at about the same time.
          yield* pool.map(
            T.Delay,
            range(8).map((value) => ({ value, ms: 50 })),
            { chunkSize: 1 }
          )
          // The retired workers are gone (`empty`), and none is on its way out.
          const settled = yield* eventually(
            pool.stats,
            (stats) =>
              stats.workers.every((worker) => worker.state === "ready" || worker.state === "empty") && ready(stats) <= 2
          )
          expect(ready(settled)).toBe(2)
          // Every idle timer has fired by now (none is armed again without work): the two stay.
          yield* Effect.sleep("1 second")
          expect(ready(yield* pool.stats)).toBe(2)
        })
      ),
    30_000
  )
})

describe.each(backends)("Pool on %s: starting workers", (backend) => {
  it.live(
    "the initializer runs once in every worker, replacements included",
    () =>
      Effect.gen(function* () {
        const file = tempFile("init")
        yield* withPool(
          backend,
          { size: 2, initializer: { task: T.RecordInit, payload: file }, maxTasksPerWorker: 2 },
          (pool) => pool.map(T.Square, range(8), { chunkSize: 1 })
        )
        const pids = readFileSync(file, "utf8").trim().split("\n")
        expect(pids.length).toBeGreaterThanOrEqual(4)
        expect(new Set(pids).size).toBe(pids.length)
      }),
    30_000
  )

  it.live(
    "key affinity sends every task with the same key to the same worker",
    () =>
      withPool(backend, { size: 3, balancer: Balancer.keyAffinity((ms: number) => String(ms % 3)) }, (pool) =>
        Effect.gen(function* () {
          yield* eventually(livePids(pool), (pids) => pids.length === 3)
          const pids = yield* pool.map(T.Pid, range(30), { chunkSize: 1 })
          for (const residue of [0, 1, 2]) {
            const forKey = new Set(pids.filter((_, i) => i % 3 === residue))
            expect(forKey.size).toBe(1)
          }
        })
      ),
    30_000
  )

  it.live(
    "round robin spreads sequential tasks over every worker",
    () =>
      withPool(backend, { size: 3, balancer: Balancer.roundRobin() }, (pool) =>
        Effect.gen(function* () {
          yield* eventually(livePids(pool), (pids) => pids.length === 3)
          const pids: Array<number> = []
          for (let i = 0; i < 6; i++) pids.push(yield* pool.apply(T.Pid, 0))
          expect(new Set(pids).size).toBe(3)
        })
      ),
    30_000
  )
})

describe.each(backends)("Pool on %s: lazy start", (backend) => {
  it.live(
    "4 concurrent tasks on a lazy pool of 32 start at most 4 workers and make at most 4 slots",
    () =>
      withPool(backend, { size: 32, start: "lazy" }, (pool) =>
        Effect.gen(function* () {
          const values = yield* Effect.forEach(range(4), (i) => pool.apply(T.Delay, { value: i, ms: 300 }), {
            concurrency: "unbounded"
          })
          expect(values).toEqual(range(4))
          const stats = yield* pool.stats
          expect(stats.workerStarts).toBeLessThanOrEqual(4)
          expect(stats.workers.length).toBeLessThanOrEqual(4)
        })
      ),
    60_000
  )

  // Threads: 16 processes at once would weigh on a small machine, and the rule is the same.
  if (backend === "thread")
    it.live(
      "a map of 16 items on a lazy pool of 1024 starts at most 16 workers",
      () =>
        withPool(backend, { size: 1024, start: "lazy" }, (pool) =>
          Effect.gen(function* () {
            expect(yield* pool.map(T.Square, range(16))).toEqual(range(16).map((i) => i * i))
            const stats = yield* pool.stats
            expect(stats.workerStarts).toBeLessThanOrEqual(16)
            expect(stats.workers.length).toBeLessThanOrEqual(16)
          })
        ),
      60_000
    )
})

describe.each(backends)("Pool on %s: shutdown", (backend) => {
  it.live(
    "closing a pool whose workers are still starting lets each finish its initializer, then stops it",
    () =>
      Effect.gen(function* () {
        const file = tempFile("init")
        // Closed as soon as it is made: both workers are still starting.
        yield* Effect.scoped(Pool.make({ size: 2, initializer: { task: T.RecordInit, payload: file } })).pipe(
          Effect.provide(NodePool.transport(backend))
        )
        const pids = readFileSync(file, "utf8").trim().split("\n")
        expect(pids.length).toBe(2)
        if (backend === "process") {
          expect(yield* Effect.promise(() => survivorsAfter(pids.map(Number), 5000))).toEqual([])
        }
      }),
    60_000
  )

  it.live(
    "S44 closing the scope drains submitted work; later submits fail with PoolShuttingDown, an empty map too",
    () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* Pool.make({ size: 4 }).pipe(
          Scope.provide(scope),
          Effect.provide(NodePool.transport(backend))
        )
        yield* eventually(livePids(pool), (pids) => pids.length === 4)
        const fibers = yield* Effect.forEach(range(40), (i) =>
          Effect.forkChild(pool.apply(T.Delay, { value: i, ms: 200 }))
        )
        yield* Effect.sleep(50)
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        yield* Effect.sleep(20)
        const refused = yield* Effect.flip(pool.apply(T.Square, 1))
        expect(refused._tag).toBe("PoolShuttingDown")
        // Every kind of call, an empty map too (it used to return [] from a closed pool), and mapSettled typed.
        expect((yield* Effect.flip(pool.map(T.Square, [])))._tag).toBe("PoolShuttingDown")
        expect((yield* Effect.flip(pool.mapSettled(T.Square, [])))._tag).toBe("PoolShuttingDown")
        expect((yield* Effect.flip(pool.mapSettled(T.Square, [1, 2])))._tag).toBe("PoolShuttingDown")
        const [elapsed] = yield* Effect.timed(Fiber.join(closing))
        const values = yield* Effect.forEach(fibers, (fiber) => Fiber.join(fiber))
        expect(values).toEqual(range(40))
        // The close ends when the work does, not at the drain deadline (10 s by default): a bound that holds under load.
        expect(Duration.toMillis(elapsed)).toBeLessThan(10_000)
      }),
    30_000
  )

  it.live(
    "S44 with drain 'inFlight', queued tasks fail with ShutdownError and running ones finish",
    () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* Pool.make({ size: 2, prefetch: 0, shutdown: { drain: "inFlight" } }).pipe(
          Scope.provide(scope),
          Effect.provide(NodePool.transport(backend))
        )
        yield* eventually(livePids(pool), (pids) => pids.length === 2)
        const fibers = yield* Effect.forEach(range(6), (i) =>
          Effect.forkChild(pool.apply(T.Delay, { value: i, ms: 300 }))
        )
        yield* Effect.sleep(100)
        yield* Scope.close(scope, Exit.void)
        const exits = yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber))
        expect(exits.filter(Exit.isSuccess)).toHaveLength(2)
        const errors = exits.filter(Exit.isFailure).map((exit) => Exit.findErrorOption(exit))
        expect(errors.map((e) => (e._tag === "Some" ? (e.value as { _tag: string })._tag : "none"))).toEqual(
          range(4).map(() => "ShutdownError")
        )
      }),
    30_000
  )

  /**
   * Closes a pool of one worker, made with `shutdown`, once the worker runs the first of `calls` tasks of `ms` and holds
   * others prefetched (the default prefetch); each call's outcome ("ok" or its `ShutdownError`'s phase) and how many
   * tasks started.
   */
  const closeWhileHolding = (shutdown: Pool.Options["shutdown"], calls: number, ms: number) =>
    Effect.gen(function* () {
      const ticks = tempFile("ticks")
      const scope = yield* Scope.make()
      const pool = yield* Pool.make({ size: 1, shutdown }).pipe(
        Scope.provide(scope),
        Effect.provide(NodePool.transport(backend))
      )
      yield* eventually(livePids(pool), (pids) => pids.length === 1)
      const fibers = yield* Effect.forEach(range(calls), (i) =>
        Effect.forkChild(pool.apply(T.Delay, { value: i, ms, ticks }), { startImmediately: true })
      )
      yield* eventually(
        Effect.zip(
          pool.stats,
          Effect.sync(() => T.countTicks(ticks))
        ),
        ([stats, started]) => started === 1 && stats.inFlight > 1
      )
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber).pipe(Effect.timeout("20 seconds")))
      const outcomes = exits.map((exit) => {
        const error = Exit.findErrorOption(exit)
        return Exit.isSuccess(exit)
          ? "ok"
          : error._tag === "Some"
            ? (error.value as TroupeError.ShutdownError).phase
            : "die"
      })
      return { outcomes, started: T.countTicks(ticks) }
    })

  it.live(
    "S44 with drain 'inFlight', tasks a worker holds prefetched and has not started fail as queued; only the running one runs",
    () =>
      Effect.gen(function* () {
        const { outcomes, started } = yield* closeWhileHolding({ drain: "inFlight" }, 10, 300)
        // They used to run to the end, one after another, as if they were running when the pool closed.
        expect(outcomes).toEqual(["ok", ...range(9).map(() => "queued")])
        expect(started).toBe(1)
      }),
    60_000
  )

  it.live(
    "S45 a shutdown at its deadline fails the task a worker was running as running, those it held prefetched as queued",
    () =>
      Effect.gen(function* () {
        // No drain: the one worker, running one task and holding the others prefetched, is stopped at once.
        const { outcomes, started } = yield* closeWhileHolding({ timeout: 0 }, 6, 60_000)
        // On threads, the five that never started used to fail as running too: terminate() lets no reply out.
        expect(outcomes).toEqual(["running", ...range(5).map(() => "queued")])
        expect(started).toBe(1)
      }),
    60_000
  )

  it.live(
    "S44 a worker that dies while the pool drains fails only the task it was running; those it held unstarted run on",
    () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* Pool.make({ size: 2, shutdown: { timeout: "60 seconds" } }).pipe(
          Scope.provide(scope),
          Effect.provide(NodePool.transport(backend))
        )
        yield* eventually(livePids(pool), (pids) => pids.length === 2)
        // One worker runs a task that ends it, the other a long one: neither has room, so the 60 short tasks
        // behind them stay where they were prefetched until the crash.
        const crashing = yield* Effect.forkChild(pool.apply(T.CrashAt, { i: 0, crashAt: 0, ms: 1000, mode: "exit" }), {
          startImmediately: true
        })
        const long = yield* Effect.forkChild(pool.apply(T.Delay, { value: -1, ms: 2000 }), { startImmediately: true })
        const short = yield* Effect.forEach(range(60), (i) =>
          Effect.forkChild(pool.apply(T.Delay, { value: i, ms: 5 }), { startImmediately: true })
        )
        yield* eventually(pool.stats, (stats) => stats.workers.every((w) => w.held > 1))
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        const crash = yield* Effect.flip(Fiber.join(crashing))
        expect(crash).toMatchObject({ _tag: "ShutdownError", phase: "running" })
        expect(yield* Fiber.join(long)).toBe(-1)
        // They used to fail with ShutdownError { phase: "running" }, though they never started.
        expect(yield* Effect.forEach(short, (fiber) => Fiber.join(fiber))).toEqual(range(60))
        yield* Fiber.join(closing).pipe(Effect.timeout("30 seconds"))
      }),
    90_000
  )

  // Resident memory and process groups belong to processes: threads share both with the parent.
  if (backend === "process")
    it.live(
      "S45 forced shutdown kills workers that ignore SIGTERM and their grandchildren; closing twice is harmless",
      () =>
        Effect.gen(function* () {
          const file = tempFile("stubborn")
          T.resetFile(file)
          const scope = yield* Scope.make()
          const pool = yield* Pool.make({
            size: 4,
            shutdown: { timeout: "200 millis" },
            killTimeout: "400 millis"
          }).pipe(Scope.provide(scope), Effect.provide(NodePool.transport(backend)))
          const fibers = yield* Effect.forEach(range(4), () => Effect.forkChild(pool.apply(T.Stubborn, file)))
          const lines = yield* eventually(
            Effect.sync(() => readFileSync(file, "utf8").trim().split("\n").filter(Boolean)),
            (found) => found.length === 4
          )
          const pids = lines.flatMap((line) => line.split(" ").map(Number))
          expect(pids).toHaveLength(8)
          const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
          expect(Duration.toMillis(elapsed)).toBeLessThan(1500 + 1000)
          const exits = yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber))
          const tags = exits.map((exit) => {
            const error = Exit.findErrorOption(exit)
            return error._tag === "Some" ? (error.value as { _tag: string })._tag : "none"
          })
          expect(tags).toEqual(range(4).map(() => "ShutdownError"))
          expect(yield* Effect.promise(() => survivorsAfter(pids, 1000))).toEqual([])
          yield* Scope.close(scope, Exit.void)
        }),
      30_000
    )

  // A thread ends by `terminate()`: no finalizer of its runs runs.
  if (backend === "process")
    it.live(
      "a worker stopped at shutdown runs its task's finalizers, and the caller still gets ShutdownError",
      () =>
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "troupe-term-"))
          const scope = yield* Scope.make()
          const pool = yield* Pool.make({
            size: 1,
            shutdown: { timeout: "100 millis" },
            killTimeout: "20 seconds"
          }).pipe(Scope.provide(scope), Effect.provide(NodePool.transport(backend)))
          const fiber = yield* Effect.forkChild(pool.apply(HoldResource, dir))
          yield* eventually(
            Effect.sync(() => existsSync(join(dir, "held"))),
            (held) => held
          )
          // A hang bound: a worker whose SIGTERM runs nothing would wait for the SIGKILL 20 s later.
          const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
          expect(existsSync(join(dir, "released"))).toBe(true)
          expect(Duration.toMillis(elapsed)).toBeLessThan(15_000)
          // The run the SIGTERM interrupted replied `Interrupted`: its caller still hears of the shutdown.
          const error = Exit.findErrorOption(yield* Fiber.await(fiber))
          expect(error._tag === "Some" ? (error.value as { _tag: string })._tag : "none").toBe("ShutdownError")
        }),
      30_000
    )
})

describe("Pool on process: a SIGTERM from outside", () => {
  it.live(
    "a worker SIGTERMed while it imports the module of its runs gives them, and those waiting behind them, back unrun: they run on its replacement",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "troupe-slow-import-"))
        const runs = yield* withPool(
          "process",
          { size: 1, concurrency: 2, prefetch: 8, env: { ...process.env, TROUPE_FIXTURE_SLOW_IMPORT: dir } },
          (pool) =>
            Effect.gen(function* () {
              const [pid] = yield* eventually(livePids(pool), (pids) => pids.length === 1)
              const calls = yield* Effect.forEach(range(8), () => Effect.forkChild(pool.apply(NoteRun, dir)))
              // Two runs are loading their module and six wait behind them: none has started, the worker knows it
              // and the pool cannot.
              yield* eventually(
                Effect.sync(() => existsSync(join(dir, `importing-${pid}`))),
                (importing) => importing
              )
              process.kill(pid!, "SIGTERM")
              return yield* Effect.forEach(calls, (call) => Effect.result(Fiber.join(call)))
            })
        )
        // None ran in the stopped worker: each runs once, on its replacement, and succeeds.
        expect(runs.map((run) => run._tag)).toEqual(range(8).map(() => "Success"))
        expect(readFileSync(join(dir, "runs"), "utf8").trim().split("\n")).toHaveLength(8)
      }),
    60_000
  )

  it.live(
    "a worker SIGTERMed from outside whose task's release hangs is killed after killTimeout: the call settles",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "troupe-term-"))
        const error = yield* withPool("process", { size: 1, killTimeout: "300 millis" }, (pool) =>
          Effect.gen(function* () {
            const call = yield* Effect.forkChild(Effect.flip(pool.apply(HoldSlowRelease, { dir, releaseMs: 600_000 })))
            const pid = yield* eventually(
              Effect.sync(() => (existsSync(join(dir, "held")) ? Number(readFileSync(join(dir, "held"), "utf8")) : 0)),
              (pid) => pid > 0
            )
            // Nobody in the program stops it: `kill -TERM <pid>` from a shell.
            process.kill(pid, "SIGTERM")
            // A hang bound: the worker never ends by itself, its task's release waits 10 minutes.
            return yield* Fiber.join(call).pipe(Effect.timeout("20 seconds"))
          })
        )
        expect(error).toMatchObject({ _tag: "WorkerCrashed", signal: "SIGKILL" })
      }),
    60_000
  )

  it.live(
    "a worker SIGTERMed from outside whose task's release dies: the task is retried as after any death by the signal",
    () =>
      Effect.gen(function* () {
        const file = tempFile("pid")
        const attempt = yield* withPool("process", { size: 1, killTimeout: "5 seconds" }, (pool) =>
          Effect.gen(function* () {
            const call = yield* Effect.forkChild(pool.apply(T.DieOnRelease, file, { retries: 1 }))
            const pid = yield* eventually(
              Effect.sync(() => (existsSync(file) ? Number(readFileSync(file, "utf8")) : 0)),
              (pid) => pid > 0
            )
            process.kill(pid, "SIGTERM")
            return yield* Fiber.join(call).pipe(Effect.timeout("20 seconds"))
          })
        )
        expect(attempt).toBe(2)
      }),
    60_000
  )
})
