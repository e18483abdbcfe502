/**
 * The pool on real workers, forked processes and worker threads: the
 * multiprocessing API (S05-S10), errors across the boundary (S12-S14),
 * crashes (S15-S19), timeouts and cancellation (S20-S24), backpressure (S43).
 * Recycling and shutdown live in PoolLifecycle.test.ts.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Pool } from "@troupe/core"
import { Duration, Effect, Exit, Fiber, Stream } from "effect"
import { isRunning, survivorsAfter } from "./fixtures/os.ts"
import { backends, eventually, livePids, range, tempFile, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"

describe.each(backends)("Pool on %s: the multiprocessing API", (backend) => {
  it.live(
    "S05 map keeps input order for chunk sizes 1, 100 and the default; a chunk is one dispatch",
    () =>
      withPool(backend, { size: 4 }, (pool) =>
        Effect.gen(function* () {
          const items = range(10_000)
          const expected = items.map((i) => i * i)
          expect(yield* pool.map(T.Square, items, { chunkSize: 1 })).toEqual(expected)
          expect(yield* pool.map(T.Square, items)).toEqual(expected)
          const withPids = yield* pool.map(T.SquareWithPid, items, { chunkSize: 100 })
          expect(withPids.map(([square]) => square)).toEqual(expected)
          for (let start = 0; start < items.length; start += 100) {
            const pids = new Set(withPids.slice(start, start + 100).map(([, pid]) => pid))
            expect(pids.size).toBe(1)
          }
          const [elapsed, empty] = yield* Effect.timed(pool.map(T.Square, []))
          expect(empty).toEqual([])
          // A hang bound: an empty map must not wait for a worker (the pool is busy with nothing).
          expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
        })
      ),
    60_000
  )

  it.live("a pool that knows its task modules starts its workers from a bundle of them", () =>
    withPool(backend, { size: 1, tasks: [T.StartedFromBundle] }, (pool) =>
      Effect.gen(function* () {
        expect(yield* pool.apply(T.StartedFromBundle, undefined)).toBe(true)
      })
    )
  )

  it.live(
    "a worker whose runtime has no Promise.withResolvers (Node 20's) replies, from the bundle and without it",
    () =>
      Effect.forEach(
        [[T.StartedFromBundle], undefined] as const,
        (tasks) =>
          withPool(
            backend,
            { size: 1, tasks, execArgv: ["--import", "data:text/javascript,delete Promise.withResolvers"] },
            (pool) =>
              Effect.gen(function* () {
                expect(yield* pool.apply(T.StartedFromBundle, undefined)).toBe(tasks !== undefined)
                expect(yield* pool.map(T.Square, range(100))).toEqual(range(100).map((i) => i * i))
              })
          ),
        { discard: true }
      )
  )

  it.live("S06 starmap over pairs and apply", () =>
    withPool(backend, { size: 4 }, (pool) =>
      Effect.gen(function* () {
        const pairs = range(100).map((i) => [i, 99 - i] as const)
        expect(yield* pool.starmap(T.Mul, pairs, { chunkSize: 20 })).toEqual(pairs.map(([a, b]) => a * b))
        expect(yield* pool.apply(T.Square, 5)).toBe(25)
        expect(yield* Pool.apply(T.Square, 6).pipe(Effect.provideService(Pool.Pool, pool))).toBe(36)
      })
    )
  )

  it.live("S07 imap is lazy: it never reads more than the buffer ahead, and stops reading when stopped", () =>
    withPool(backend, { size: 4 }, (pool) =>
      Effect.gen(function* () {
        let pulled = 0
        let consumed = 0
        let worst = 0
        // One element per pull: how far a source reads ahead is the source's own chunking.
        const input = Stream.fromIterable(
          {
            *[Symbol.iterator]() {
              for (let i = 0; ; i++) {
                pulled++
                yield i
              }
            }
          },
          { chunkSize: 1 }
        )
        const results = yield* pool.imap(T.Square, input, { bufferSize: 8 }).pipe(
          Stream.tap(() =>
            Effect.sync(() => {
              consumed++
              worst = Math.max(worst, pulled - consumed)
            }).pipe(Effect.andThen(Effect.sleep(2)))
          ),
          Stream.take(300),
          Stream.runCollect
        )
        expect(Array.from(results)).toEqual(range(300).map((i) => i * i))
        expect(worst).toBeLessThanOrEqual(8 + 4 + 1)
        const after = pulled
        yield* Effect.sleep(300)
        expect(pulled).toBe(after)
        const stats = yield* pool.stats
        expect(stats.inFlight).toBe(0)
      })
    )
  )

  it.live(
    "map reads its items when the Effect runs; an iterable that throws is an InputError and nothing is sent",
    () =>
      withPool(backend, { size: 2 }, (pool) =>
        Effect.gen(function* () {
          let reads = 0
          const counted = {
            *[Symbol.iterator]() {
              reads++
              yield* [1, 2, 3]
            }
          }
          const squares = pool.map(T.Square, counted)
          expect(reads).toBe(0)
          expect(yield* squares).toEqual([1, 4, 9])
          expect(yield* squares).toEqual([1, 4, 9])
          expect(reads).toBe(2)
          const throwing = {
            *[Symbol.iterator]() {
              yield 1
              throw new Error("the source broke")
            }
          }
          const submitted = (yield* pool.stats).submitted
          // Building the calls reads nothing, so nothing throws out of them.
          const mapped = pool.map(T.Square, throwing)
          const settled = pool.mapSettled(T.Square, throwing)
          const starmapped = pool.starmap(T.Mul, throwing as Iterable<readonly [number, number]>)
          for (const call of [mapped, settled, starmapped]) {
            const error = yield* Effect.flip(call as Effect.Effect<unknown, { readonly _tag: string; message: string }>)
            expect(error).toMatchObject({ _tag: "InputError" })
            expect(error.message).toContain("the source broke")
          }
          expect((yield* pool.stats).submitted).toBe(submitted)
        })
      )
  )

  it.live(
    "imap over an iterable reads it one item at a time, never more than bufferSize ahead; a throw is an InputError",
    () =>
      withPool(backend, { size: 2 }, (pool) =>
        Effect.gen(function* () {
          let pulled = 0
          let consumed = 0
          let worst = 0
          const endless = {
            *[Symbol.iterator]() {
              for (let i = 0; ; i++) {
                pulled++
                yield i
              }
            }
          }
          const stream = pool.imap(T.Square, endless, { bufferSize: 4 })
          expect(pulled).toBe(0)
          const results = yield* stream.pipe(
            Stream.tap(() =>
              Effect.sync(() => {
                consumed++
                worst = Math.max(worst, pulled - consumed)
              })
            ),
            Stream.take(100),
            Stream.runCollect
          )
          expect(Array.from(results)).toEqual(range(100).map((i) => i * i))
          // In flight (4) plus the item read when one settles; Stream.fromIterable would have read 4,096 ahead.
          expect(worst).toBeLessThanOrEqual(4 + 2)
          expect(pulled).toBeLessThanOrEqual(100 + 4 + 2)
          const delivered: Array<number> = []
          const breaking = {
            *[Symbol.iterator]() {
              yield* [1, 2, 3]
              throw new Error("the source broke")
            }
          }
          const error = yield* Effect.flip(
            Stream.runForEach(pool.imap(T.Square, breaking, { bufferSize: 2 }), (n) =>
              Effect.sync(() => delivered.push(n))
            )
          )
          expect(error).toMatchObject({ _tag: "InputError" })
          expect(delivered).toEqual([1, 4, 9])
        })
      )
  )

  it.live(
    "S08 imapUnordered yields in completion order; with a buffer of 1, in input order",
    () =>
      withPool(backend, { size: 4 }, (pool) =>
        Effect.gen(function* () {
          const delays = [400, 300, 200, 100]
          yield* eventually(livePids(pool), (pids) => pids.length === 4)
          // Every worker loads the task's module first, so that loading does not reorder the delays.
          yield* pool.map(
            T.Delay,
            range(8).map(() => ({ value: 0, ms: 50 })),
            { chunkSize: 1 }
          )
          // In completion order: the four ran at once (one after another, 400 would come first).
          const fast = yield* pool
            .imapUnordered(T.Delay, Stream.fromIterable(delays.map((ms) => ({ value: ms, ms }))), { bufferSize: 4 })
            .pipe(Stream.runCollect)
          expect(Array.from(fast as Iterable<number>)).toEqual([100, 200, 300, 400])
          const slow = yield* pool
            .imapUnordered(T.Delay, Stream.fromIterable(delays.map((ms) => ({ value: ms, ms }))), { bufferSize: 1 })
            .pipe(Stream.runCollect)
          expect(Array.from(slow as Iterable<number>)).toEqual([400, 300, 200, 100])
          const many = yield* pool
            .imapUnordered(T.Square, Stream.fromIterable(range(1000)), { chunkSize: 100 })
            .pipe(Stream.runCollect)
          expect(Array.from(many as Iterable<number>).sort((a, b) => a - b)).toEqual(range(1000).map((i) => i * i))
        })
      ),
    30_000
  )

  it.live("S09 an input stream that fails delivers the results before the failure, then the input's own error", () =>
    withPool(backend, { size: 4 }, (pool) =>
      Effect.gen(function* () {
        class SayWhen extends Error {}
        const input = Stream.fromIterable(range(7)).pipe(Stream.concat(Stream.fail(new SayWhen("stop"))))
        // Chunk sizes 1, 2 and 4, each twice. A partial last chunk is still run and delivered (Python drops it).
        for (const chunkSize of [1, 1, 2, 2, 4, 4]) {
          const seen: Array<number> = []
          const exit = yield* pool.imap(T.Square, input, { chunkSize }).pipe(
            Stream.runForEach((n) => Effect.sync(() => seen.push(n))),
            Effect.exit
          )
          expect(seen).toEqual([0, 1, 4, 9, 16, 25, 36])
          expect(Exit.isFailure(exit) && Exit.findErrorOption(exit)).toMatchObject({ value: expect.any(SayWhen) })
        }
      })
    )
  )

  it.live("imap ends at the failing item's own place, after every earlier result, however long those take", () =>
    withPool(backend, { size: 2 }, (pool) =>
      Effect.gen(function* () {
        const ticks = tempFile("ticks")
        // Item 0 takes 400 ms; item 5 fails at once, long before it. Python's imap raises at index 5 after 0..4.
        for (const chunkSize of [1, 1, 2]) {
          const items = range(10).map((i) => ({ i, failAt: 5, ms: i === 0 ? 400 : 0, ticks }))
          const seen: Array<number> = []
          const exit = yield* pool.imap(T.FailAt, items, { bufferSize: 8, chunkSize }).pipe(
            Stream.runForEach((n) => Effect.sync(() => seen.push(n))),
            Effect.exit
          )
          // With chunks of 2, item 5's chunk (4 and 5) fails as one, as a chunk does in Python.
          expect(seen).toEqual(chunkSize === 1 ? [0, 1, 4, 9, 16] : [0, 1, 4, 9])
          expect(Exit.isFailure(exit) && Exit.findErrorOption(exit)).toMatchObject({ value: { _tag: "Boom", i: 5 } })
        }
      })
    )
  )

  it.live(
    "S10 map fails fast on the first failure; queued items never start; mapSettled returns every outcome",
    () =>
      withPool(backend, { size: 4, prefetch: 0 }, (pool) =>
        Effect.gen(function* () {
          const ticks = tempFile("ticks")
          const items = range(1000).map((i) => ({ i, failAt: 37, ms: 20, ticks }))
          const [elapsed, error] = yield* Effect.timed(Effect.flip(pool.map(T.FailAt, items, { chunkSize: 1 })))
          expect(error).toBeInstanceOf(T.Boom)
          expect(error).toMatchObject({ _tag: "Boom", i: 37 })
          // A hang bound, not a speed one (the whole map takes about 5 s on a quiet machine, 25 s at load 20):
          // fail-fast is what the ticks show.
          expect(Duration.toMillis(elapsed)).toBeLessThan(60_000)
          yield* Effect.sleep(200)
          expect(T.countTicks(ticks)).toBeLessThanOrEqual(37 + 4 + 4)
          expect(yield* pool.map(T.Square, range(100))).toEqual(range(100).map((i) => i * i))
          const settled = yield* pool.mapSettled(
            T.FailAt,
            range(1000).map((i) => ({ i, failAt: 37, ms: 0, ticks }))
          )
          expect(settled).toHaveLength(1000)
          expect(settled.filter(Exit.isSuccess)).toHaveLength(999)
          expect(Exit.isFailure(settled[37]!)).toBe(true)
          expect(Exit.findErrorOption(settled[37]! as Exit.Exit<number, unknown>)).toMatchObject({ value: { i: 37 } })
        })
      ),
    120_000
  )

  it.live("a bad payload fails before anything is sent", () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(pool.apply(T.Square, "three" as unknown as number))
        expect(error._tag).toBe("RequestValidationError")
        expect(yield* pool.apply(T.Square, 3)).toBe(9)
      })
    )
  )
})

describe.each(backends)("Pool on %s: crashes", (backend) => {
  for (const mode of backend === "process"
    ? (["exit", "uncaught", "sigkill", "oom"] as const)
    : (["exit", "uncaught", "oom"] as const)) {
    it.live(
      `S15 a worker that dies mid-task (${mode}) fails exactly that task; the others succeed; the pool heals`,
      () =>
        withPool(backend, { size: 4, execArgv: mode === "oom" ? ["--max-old-space-size=64"] : undefined }, (pool) =>
          Effect.gen(function* () {
            const before = yield* eventually(livePids(pool), (pids) => pids.length === 4)
            const exits = yield* pool.mapSettled(
              T.CrashAt,
              range(40).map((i) => ({ i, crashAt: 13, ms: 200, mode })),
              { chunkSize: 1 }
            )
            const failures = exits.flatMap((exit, i) => (Exit.isFailure(exit) ? [[i, exit] as const] : []))
            expect(failures.map(([i]) => i)).toEqual([13])
            const error = Exit.findErrorOption(failures[0]![1] as Exit.Exit<number, unknown>)
            expect(error).toMatchObject({ value: { _tag: "WorkerCrashed", task: "pool/CrashAt", attempts: 1 } })
            const crash = (error as { value: { pid: number; exitCode: number | null; signal: string | null } }).value
            expect(before).toContain(crash.pid)
            if (mode === "exit") expect(crash).toMatchObject({ exitCode: 3, signal: null })
            if (mode === "uncaught") expect(crash).toMatchObject({ exitCode: 1, signal: null })
            if (mode === "sigkill") expect(crash).toMatchObject({ exitCode: null, signal: "SIGKILL" })
            if (mode === "oom") expect(crash.signal !== null || (crash.exitCode ?? 0) !== 0).toBe(true)
            const after = yield* eventually(livePids(pool), (pids) => pids.length === 4)
            expect(after).toHaveLength(4)
            expect(after).not.toContain(crash.pid)
            if (backend === "process") expect(isRunning(crash.pid)).toBe(false)
            expect(yield* pool.map(T.Square, range(20))).toEqual(range(20).map((i) => i * i))
          })
        ),
      60_000
    )
  }

  if (backend === "process") {
    it.live(
      "a worker SIGTERMed from outside (kill -TERM) while it runs a task fails that task with WorkerCrashed, or runs it again on a new worker when it has retries",
      () =>
        withPool(backend, { size: 1 }, (pool) =>
          Effect.gen(function* () {
            for (const retries of [0, 1]) {
              const ticks = tempFile("ticks")
              const pid = yield* pool.apply(T.Pid, 0)
              const running = yield* Effect.forkChild(pool.apply(T.Delay, { value: 7, ms: 3000, ticks }, { retries }), {
                startImmediately: true
              })
              yield* eventually(
                Effect.sync(() => T.countTicks(ticks)),
                (count) => count === 1
              )
              process.kill(pid, "SIGTERM")
              const exit = yield* Fiber.await(running)
              if (retries === 0) {
                expect(Exit.findErrorOption(exit)).toMatchObject({
                  value: { _tag: "WorkerCrashed", pid, exitCode: null, signal: "SIGTERM" }
                })
              } else {
                expect(Exit.isSuccess(exit) && exit.value).toBe(7)
                expect(T.countTicks(ticks)).toBe(2)
              }
            }
          })
        ),
      60_000
    )
  }

  it.live(
    "S12 S13 a defect (thrown in or before the task's Effect) and an unencodable result are typed errors; the worker is not replaced",
    () =>
      withPool(backend, { size: 2 }, (pool) =>
        Effect.gen(function* () {
          const before = yield* eventually(livePids(pool), (pids) => pids.length === 2)
          const defect = yield* Effect.flip(pool.apply(T.Defect, 1))
          expect(defect).toMatchObject({ _tag: "RemoteDefect", name: "Error", message: "boom" })
          const early = yield* Effect.flip(pool.apply(T.DefectBeforeEffect, 1))
          expect(early).toMatchObject({ _tag: "RemoteDefect", name: "TypeError", message: "thrown before any Effect" })
          for (let call = 0; call < 20; call++) {
            const error = yield* Effect.flip(pool.apply(T.BadResult, call))
            expect(error).toMatchObject({ _tag: "ResultEncodeError", task: "pool/BadResult" })
          }
          expect((yield* livePids(pool)).sort()).toEqual([...before].sort())
        })
      )
  )

  it.live("S14 a payload that cannot be sent fails on the caller's side; the other tasks succeed", () =>
    withPool(backend, { size: 2 }, (pool) =>
      Effect.gen(function* () {
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        const exits = yield* Effect.forEach(
          range(100),
          (i) => Effect.exit(pool.apply(T.Anything, i === 50 ? cyclic : { i })),
          { concurrency: "unbounded" }
        )
        expect(exits.filter(Exit.isSuccess)).toHaveLength(99)
        const error = Exit.findErrorOption(exits[50]! as Exit.Exit<number, unknown>)
        expect(error._tag === "Some" && (error.value as { _tag: string })._tag).toMatch(
          /^(RequestValidationError|ArgumentEncodeError)$/
        )
      })
    )
  )

  it.live(
    "S17 a worker that crashes holding large payloads fails those tasks promptly; nothing deadlocks",
    () =>
      withPool(backend, { size: 2 }, (pool) =>
        Effect.gen(function* () {
          const data = "x".repeat(16 * 1024 * 1024)
          const [elapsed, exits] = yield* Effect.timed(
            Effect.forEach(range(4), (i) => Effect.exit(pool.apply(T.BigPayload, { data, abort: i === 1 })), {
              concurrency: "unbounded"
            })
          )
          const crashed = exits.filter((exit) => Exit.isFailure(exit))
          expect(crashed.length).toBeGreaterThanOrEqual(1)
          for (const exit of crashed) {
            expect(Exit.findErrorOption(exit as Exit.Exit<number, unknown>)).toMatchObject({
              value: { _tag: "WorkerCrashed" }
            })
          }
          expect(exits.filter(Exit.isSuccess).every((exit) => exit.value === data.length)).toBe(true)
          // A hang bound (23 s were seen at load 20): a crash noticed only by a timeout would take longer.
          expect(Duration.toMillis(elapsed)).toBeLessThan(60_000)
          expect(yield* pool.apply(T.Square, 3)).toBe(9)
        })
      ),
    120_000
  )

  it.live(
    "a task that kills its worker right after others finished: only it fails, and it never runs twice",
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const ticks = tempFile("ticks")
          const exits = yield* pool.mapSettled(
            T.ExitSync,
            range(10).map((i) => ({ i, exitAt: 5, ticks })),
            { chunkSize: 1 }
          )
          expect(exits.map((exit) => (Exit.isSuccess(exit) ? exit.value : "crashed"))).toEqual([
            0,
            1,
            2,
            3,
            4,
            "crashed",
            6,
            7,
            8,
            9
          ])
          const runs = readFileSync(ticks, "utf8").trim().split(" ").map(Number)
          expect(runs.filter((i) => i === 5)).toHaveLength(1)
          expect(runs.filter((i) => i < 5)).toEqual([0, 1, 2, 3, 4])
        })
      ),
    30_000
  )

  it.live(
    "S16 a crash is retried on a live worker when the task allows it; the attempts are counted",
    () =>
      withPool(backend, { size: 2 }, (pool) =>
        Effect.gen(function* () {
          const attempts = tempFile("attempts")
          expect(yield* pool.apply(T.CrashTwice, { attempts, crashes: 2 }, { retries: 2 })).toBe(42)
          expect(T.countTicks(attempts)).toBe(3)
          const again = tempFile("again")
          const error = yield* Effect.flip(pool.apply(T.CrashTwice, { attempts: again, crashes: 2 }, { retries: 1 }))
          expect(error).toMatchObject({ _tag: "WorkerCrashed", attempts: 2 })
          const typed = yield* Effect.flip(
            pool.apply(T.FailAt, { i: 1, failAt: 1, ms: 0, ticks: tempFile("t") }, { retries: 3 })
          )
          expect(typed._tag).toBe("Boom")
        })
      ),
    30_000
  )

  it.live(
    "S18 several workers crashing at once: every affected task fails with its own typed error",
    () =>
      withPool(backend, { size: 4, prefetch: 0 }, (pool) =>
        Effect.gen(function* () {
          yield* eventually(livePids(pool), (pids) => pids.length === 4)
          const exits = yield* pool.mapSettled(
            T.CrashAt,
            range(4).map((i) => ({ i, crashAt: i, ms: 100, mode: "exit" as const })),
            { chunkSize: 1 }
          )
          const errors = exits.map((exit) => Exit.findErrorOption(exit as Exit.Exit<number, unknown>))
          expect(errors.every((e) => e._tag === "Some" && (e.value as { _tag: string })._tag === "WorkerCrashed")).toBe(
            true
          )
          expect(new Set(errors.map((e) => (e as { value: unknown }).value)).size).toBe(4)
          yield* eventually(livePids(pool), (pids) => pids.length === 4)
          expect(yield* pool.map(T.Square, range(8))).toEqual(range(8).map((i) => i * i))
        })
      ),
    30_000
  )

  it.live(
    "S19 a failing initializer is an InitializerError; restarts count toward the intensity, then the pool gives up",
    () =>
      Effect.gen(function* () {
        const attempts = tempFile("init")
        const result = yield* withPool(
          backend,
          {
            size: 1,
            initializer: { task: T.FailingInit, payload: attempts },
            restartIntensity: { maxRestarts: 3, period: "1 minute", onExceeded: "giveUp" },
            backoff: { min: "50 millis", max: "200 millis", randomFactor: 0 }
          },
          (pool) =>
            Effect.gen(function* () {
              const first = yield* Effect.flip(pool.apply(T.Square, 2))
              // Failed starts take a while on a busy machine: wait for the give-up, not a fixed time.
              const later = yield* eventually(
                Effect.orDie(Effect.flip(pool.apply(T.Square, 2))),
                (error) => error._tag === "RestartIntensityExceeded"
              )
              return { first, later }
            })
        )
        expect(["InitializerError", "RestartIntensityExceeded"]).toContain(result.first._tag)
        expect(result.later._tag).toBe("RestartIntensityExceeded")
        expect(T.countTicks(attempts)).toBeLessThanOrEqual(4)
        expect(T.countTicks(attempts)).toBeGreaterThanOrEqual(1)
      }),
    30_000
  )

  it.live(
    "under onExceeded: giveUp (OTP) the pool gives up past the restart intensity, and every later caller is told",
    () =>
      withPool(
        backend,
        { size: 2, restartIntensity: { maxRestarts: 1, period: "10 seconds", onExceeded: "giveUp" } },
        (pool) =>
          Effect.gen(function* () {
            yield* pool.mapSettled(
              T.CrashAt,
              range(2).map((i) => ({ i, crashAt: i, ms: 0, mode: "exit" as const }))
            )
            const error = yield* Effect.flip(pool.apply(T.Square, 2))
            expect(error).toMatchObject({ _tag: "RestartIntensityExceeded", periodMs: 10_000 })
          })
      )
  )
})

describe.each(backends)("Pool on %s: timeouts and cancellation", (backend) => {
  it.live(
    "S20 a task past its timeout gets TaskTimeout; its stuck worker is replaced; the timeout counts from dispatch",
    () =>
      // The workers start with the task's module loaded: a first run that comes while its worker still imports the
      // module, and times out meanwhile, never starts (row 69), and its worker is rightly not replaced.
      withPool(
        backend,
        { size: 2, interruptGrace: "200 millis", killTimeout: "500 millis", tasks: [T.BusyLoop] },
        (pool) =>
          Effect.gen(function* () {
            const before = yield* eventually(livePids(pool), (pids) => pids.length === 2)
            const [elapsed, error] = yield* Effect.timed(
              Effect.flip(pool.apply(T.BusyLoop, 0, { timeout: "500 millis" }))
            )
            expect(error).toMatchObject({ _tag: "TaskTimeout", timeoutMs: 500 })
            // A hang bound: the task loops forever, so only its timeout can end the call.
            expect(Duration.toMillis(elapsed)).toBeLessThan(10_000)
            const after = yield* eventually(
              livePids(pool),
              (pids) => pids.length === 2 && pids.some((p) => !before.includes(p))
            )
            const replaced = before.filter((pid) => !after.includes(pid))
            expect(replaced).toHaveLength(1)
            if (backend === "process") expect(yield* Effect.promise(() => survivorsAfter(replaced, 2000))).toEqual([])
            expect(yield* pool.map(T.Square, range(100))).toEqual(range(100).map((i) => i * i))
            const queued = yield* Effect.all(
              [
                pool.apply(T.Delay, { value: 1, ms: 1000 }),
                pool.apply(T.Delay, { value: 2, ms: 1000 }),
                pool.apply(T.Delay, { value: 3, ms: 300 }, { timeout: "500 millis" })
              ],
              { concurrency: "unbounded" }
            )
            expect(queued).toEqual([1, 2, 3])
          })
      ),
    30_000
  )

  it.live(
    "S22 interrupting the caller stops the remote work; a queued task never starts",
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const beats = tempFile("beats")
          const interrupted = tempFile("interrupted")
          const running = yield* Effect.forkChild(pool.apply(T.Heartbeat, { beats, interrupted }))
          const queuedTicks = tempFile("queued")
          const queued = yield* Effect.forkChild(pool.apply(T.Delay, { value: 1, ms: 0, ticks: queuedTicks }))
          yield* eventually(
            Effect.sync(() => T.countTicks(beats)),
            (count) => count > 0
          )
          yield* Effect.sleep(300)
          yield* Fiber.interrupt(queued)
          const [elapsed] = yield* Effect.timed(Fiber.interrupt(running))
          // A hang bound: the heartbeat runs forever unless the interrupt reaches it.
          expect(Duration.toMillis(elapsed)).toBeLessThan(10_000)
          expect(T.countTicks(interrupted)).toBe(1)
          const stopped = T.countTicks(beats)
          expect(stopped).toBeGreaterThan(0)
          yield* Effect.sleep(300)
          expect(T.countTicks(beats)).toBe(stopped)
          expect(T.countTicks(queuedTicks)).toBe(0)
          expect(yield* pool.apply(T.Square, 4)).toBe(16)
        })
      ),
    30_000
  )

  it.live(
    "S22 interrupting a map starts none of the items its worker holds: one chunk, or prefetched items",
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          for (const chunkSize of [6, 1]) {
            const ticks = tempFile("ticks")
            const items = range(6).map(() => ({ value: 0, ms: 60_000, ticks }))
            const map = yield* Effect.forkChild(pool.map(T.Delay, items, { chunkSize }))
            yield* eventually(
              Effect.sync(() => T.countTicks(ticks)),
              (count) => count > 0
            )
            yield* Fiber.interrupt(map)
            // The worker runs this after whatever it held: an item that would start has started by then.
            expect(yield* pool.apply(T.Square, 4)).toBe(16)
            expect(T.countTicks(ticks)).toBe(1)
          }
        })
      ),
    30_000
  )

  it.live(
    "S22 a call that times out while its fresh worker loads the task's module never starts",
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          yield* pool.ready
          const ticks = tempFile("ticks")
          // Loading the module takes far longer than 5 ms: the interrupt comes while the worker is busy importing.
          const exit = yield* Effect.exit(
            pool.apply(T.Delay, { value: 0, ms: 0, ticks }).pipe(Effect.timeout("5 millis"))
          )
          expect(Exit.isFailure(exit)).toBe(true)
          // The worker runs this after the cancelled run: had that started, it would have ticked by then.
          expect(yield* pool.apply(T.Square, 4)).toBe(16)
          expect(T.countTicks(ticks)).toBe(0)
        })
      ),
    30_000
  )

  it.live(
    "S23 halting a stream early interrupts the tasks still running",
    () =>
      withPool(backend, { size: 4, interruptGrace: "300 millis" }, (pool) =>
        Effect.gen(function* () {
          yield* eventually(livePids(pool), (pids) => pids.length === 4)
          const [elapsed, first] = yield* Effect.timed(
            pool
              .imapUnordered(
                T.Delay,
                Stream.fromIterable([0, 60_000, 60_000, 60_000].map((ms) => ({ value: ms, ms }))),
                {
                  bufferSize: 4
                }
              )
              .pipe(Stream.take(1), Stream.runCollect)
          )
          expect(Array.from(first as Iterable<number>)).toEqual([0])
          // A hang bound: the other three tasks take a minute each unless halting interrupts them.
          expect(Duration.toMillis(elapsed)).toBeLessThan(30_000)
          const stats = yield* eventually(pool.stats, (s) => s.inFlight === 0)
          expect(stats.inFlight).toBe(0)
        })
      ),
    30_000
  )
})

describe.each(backends)("Pool on %s: waiting without cancelling, streams with timeouts", (backend) => {
  it.live("S24 a wait with a limit does not cancel: the task goes on, and awaiting again returns its result", () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        yield* eventually(livePids(pool), (pids) => pids.length === 1)
        const running = yield* Effect.forkChild(pool.apply(T.Delay, { value: 7, ms: 1500 }))
        const early = yield* Fiber.await(running).pipe(Effect.timeoutOption("100 millis"))
        expect(early._tag).toBe("None")
        expect(yield* Fiber.join(running)).toBe(7)
      })
    )
  )

  it.live(
    "S21 a timeout in a stream is that item's outcome; the other items keep theirs",
    () =>
      withPool(backend, { size: 4, interruptGrace: "200 millis" }, (pool) =>
        Effect.gen(function* () {
          yield* eventually(livePids(pool), (pids) => pids.length === 4)
          // Every worker loads the task's module first: the deadline counts from dispatch, loading included.
          yield* pool.map(
            T.Delay,
            range(8).map(() => ({ value: 0, ms: 50 })),
            { chunkSize: 1 }
          )
          const items = [100, 1, 100, 1].map((ms) => ({ value: ms, ms: ms === 100 ? 1000 : 1 }))
          const settled = (exit: Exit.Exit<number, unknown>) =>
            Exit.isSuccess(exit)
              ? `ok ${exit.value}`
              : (Exit.findErrorOption(exit) as { value: { _tag: string } }).value._tag
          const ordered = yield* Stream.fromIterable(items).pipe(
            Stream.mapEffect((item) => Effect.exit(pool.apply(T.Delay, item, { timeout: "300 millis" })), {
              concurrency: 4
            }),
            Stream.runCollect
          )
          expect(Array.from(ordered).map(settled)).toEqual(["TaskTimeout", "ok 1", "TaskTimeout", "ok 1"])
          const unordered = yield* Stream.fromIterable(items).pipe(
            Stream.mapEffect((item) => Effect.exit(pool.apply(T.Delay, item, { timeout: "300 millis" })), {
              concurrency: 4,
              unordered: true
            }),
            Stream.runCollect
          )
          expect(Array.from(unordered).map(settled)).toEqual(["ok 1", "ok 1", "TaskTimeout", "TaskTimeout"])
        })
      ),
    30_000
  )

  it.live("concurrency 2 runs two async tasks at once in one worker", () =>
    withPool(backend, { size: 1, concurrency: 2 }, (pool) =>
      Effect.gen(function* () {
        yield* eventually(livePids(pool), (pids) => pids.length === 1)
        // Both tasks tick when they start and then wait a minute: two ticks can only come from two runs at once.
        const ticks = tempFile("started")
        const both = yield* Effect.forkChild(
          Effect.all(
            [
              pool.apply(T.Delay, { value: 1, ms: 60_000, ticks }),
              pool.apply(T.Delay, { value: 2, ms: 60_000, ticks })
            ],
            { concurrency: "unbounded" }
          )
        )
        const started = yield* eventually(
          Effect.sync(() => T.countTicks(ticks)),
          (count) => count === 2
        )
        expect(started).toBe(2)
        yield* Fiber.interrupt(both)
        expect(yield* pool.apply(T.Delay, { value: 3, ms: 0 })).toBe(3)
      })
    )
  )
})

describe.each(backends)("Pool on %s: backpressure", (backend) => {
  it.live(
    "S43 a full queue makes apply wait and offer fail at once with QueueFull; nothing is dropped",
    () =>
      withPool(backend, { size: 1, queueSize: 16, prefetch: 0 }, (pool) =>
        Effect.gen(function* () {
          let maxQueued = 0
          const sampler = yield* Effect.forkChild(
            Effect.forever(
              pool.stats.pipe(
                Effect.tap((s) => Effect.sync(() => (maxQueued = Math.max(maxQueued, s.queued)))),
                Effect.andThen(Effect.sleep(5))
              )
            )
          )
          const producer = yield* Effect.forkChild(
            Effect.forEach(range(40), (i) => Effect.forkChild(pool.apply(T.Delay, { value: i, ms: 20 }))).pipe(
              Effect.flatMap((fibers) => Effect.forEach(fibers, (fiber) => Fiber.await(fiber)))
            )
          )
          // The event, not a duration: the queue is full (at load 7 the producer had not filled it 200 ms on).
          yield* eventually(pool.stats, (s) => s.queued >= 16, 20_000)
          const [offerTime, full] = yield* Effect.timed(Effect.flip(pool.offer(T.Square, 2)))
          expect(full._tag).toBe("QueueFull")
          // "At once": a waiting offer would have found room (the producer drains the queue) and succeeded,
          // so QueueFull shows it did not wait; the bound only catches a hang.
          expect(Duration.toMillis(offerTime)).toBeLessThan(10_000)
          const [waitTime, stillFull] = yield* Effect.timed(
            Effect.flip(pool.offer(T.Square, 2, { wait: "100 millis" }))
          )
          expect(stillFull._tag).toBe("QueueFull")
          expect(Duration.toMillis(waitTime)).toBeGreaterThanOrEqual(95)
          expect(Duration.toMillis(waitTime)).toBeLessThan(10_000)
          const exits = yield* Fiber.await(producer)
          yield* Fiber.interrupt(sampler)
          expect(yield* pool.offer(T.Square, 3, { wait: "1 second" })).toBe(9)
          expect(maxQueued).toBeLessThanOrEqual(16)
          expect(Exit.isSuccess(exits)).toBe(true)
          const values = Exit.isSuccess(exits) ? exits.value.map((e) => (Exit.isSuccess(e) ? e.value : -1)) : []
          expect(values).toEqual(range(40))
        })
      ),
    30_000
  )
})
