/**
 * What the parent takes from a child, and what it refuses at the boundary
 * (issue 13, items 4, 5, 8, 9): a child that closes its channel and keeps
 * running, a child that writes garbage or too much on it, enormous log
 * lines, a `ProtocolError` from a worker, and a payload JSON cannot carry.
 * Every call settles within a bound, the offending worker is killed and
 * replaced, and the parent keeps neither its file descriptor nor its bytes.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { IpcEvent, Process, Supervisor } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Duration, Effect, Exit, Fiber, Logger } from "effect"
import * as I from "./fixtures/intake.ts"
import { Hermit, HermitBehaviour } from "./fixtures/intakeActors.ts"
import { isRunning, survivorsAfter } from "./fixtures/os.ts"
import { backends, eventually, tempFile, withPool } from "./fixtures/pool.ts"

/** Generous: a hang fails the test; the time is never measured. */
const bound = Duration.seconds(20)

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = Exit.findErrorOption(exit)
  if (error._tag === "None") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return error.value as { readonly _tag: string; readonly reason?: string; readonly pid?: number }
}

describe.each(backends)("on %s: a child that closes its channel and keeps running", (backend) => {
  it.live(
    "its pool call fails with WorkerCrashed within a bound; the worker is killed and replaced; queued work runs",
    () =>
      withPool(backend, { size: 1, tasks: [I.CloseChannel, I.Work] }, (pool) =>
        Effect.gen(function* () {
          const first = yield* pool.apply(I.Work, { ms: 0 })
          // Queued behind the hostile task on the only worker: it never started, so it runs on the replacement.
          const [hostile, innocent] = yield* Effect.all(
            [Effect.exit(pool.apply(I.CloseChannel, 0)), Effect.exit(pool.apply(I.Work, { ms: 0 }))],
            { concurrency: "unbounded" }
          ).pipe(Effect.timeout(bound))
          const error = failureOf(hostile)
          expect(error._tag).toBe("WorkerCrashed")
          expect(error.reason).toContain("closed its channel")
          expect(Exit.isSuccess(innocent)).toBe(true)
          const next = yield* pool.apply(I.Work, { ms: 0 }).pipe(Effect.timeout(bound))
          expect(next).not.toBe(first)
          if (backend === "process") expect(isRunning(first)).toBe(false)
        })
      ),
    60_000
  )

  it.live(
    "a run the pool sends after the channel closed never reached the worker: it runs on the replacement",
    () =>
      withPool(backend, { size: 1, concurrency: 2, tasks: [I.CloseChannelAndTell, I.Work] }, (pool) =>
        Effect.gen(function* () {
          const file = tempFile("closed")
          const hostile = yield* Effect.forkChild(pool.apply(I.CloseChannelAndTell, file))
          yield* eventually(
            Effect.sync(() => existsSync(file)),
            (closed) => closed
          )
          yield* Effect.sleep(50)
          // The worker still has room (concurrency 2) and still looks ready: the run goes to it, and must not be
          // failed as if it had run there.
          const innocent = yield* Effect.exit(pool.apply(I.Work, { ms: 0 })).pipe(Effect.timeout(bound))
          expect(Exit.isSuccess(innocent)).toBe(true)
          expect(failureOf(yield* Fiber.await(hostile))._tag).toBe("WorkerCrashed")
        })
      ),
    60_000
  )

  it.live(
    "Process: the result is a ProcessCrashed that says why, within a bound, and the child is killed",
    () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Process.run(I.CloseChannel, 0)).pipe(Effect.timeout(bound))
        const error = failureOf(exit)
        expect(error._tag).toBe("ProcessCrashed")
        expect(error.reason).toContain("closed its channel")
        if (backend === "process") expect(yield* Effect.promise(() => survivorsAfter([error.pid!], 5000))).toEqual([])
      }).pipe(Effect.provide(NodePool.transport(backend))),
    60_000
  )

  it.live(
    "an actor host: the message fails with ActorDied within a bound; the actor restarts in a new host",
    () =>
      Effect.gen(function* () {
        const sup = yield* Supervisor.start({ intensity: 10, period: "1 minute" }, [
          Supervisor.worker("hermit", HermitBehaviour)
        ])
        const hermit = sup.ref("hermit", Hermit)
        const first = yield* hermit.ask("Id", undefined)
        const error = failureOf(yield* Effect.exit(hermit.ask("CloseChannel", undefined)).pipe(Effect.timeout(bound)))
        expect(error._tag).toBe("ActorDied")
        const next = yield* eventually(
          Effect.exit(hermit.ask("Id", undefined)),
          (exit) => Exit.isSuccess(exit) && exit.value !== first
        )
        expect(Exit.isSuccess(next) && next.value).not.toBe(first)
      }).pipe(Effect.scoped, Effect.provide(NodePool.transport(backend))),
    60_000
  )
})

describe.each(backends)("on %s: payloads and protocol errors", (backend) => {
  it.live("a payload that encodes to undefined is an ArgumentEncodeError at the call, never a hang", () =>
    withPool(backend, { size: 1, tasks: [I.Anything] }, (pool) =>
      Effect.gen(function* () {
        const one = failureOf(yield* Effect.exit(pool.apply(I.Anything, undefined)).pipe(Effect.timeout(bound)))
        expect(one._tag).toBe("ArgumentEncodeError")
        const many = failureOf(yield* Effect.exit(pool.map(I.Anything, [1, undefined])).pipe(Effect.timeout(bound)))
        expect(many._tag).toBe("ArgumentEncodeError")
        expect(yield* pool.apply(I.Anything, null)).toBe("object")
      })
    )
  )

  it.live("a worker that sends ProtocolError is replaced; what it held fails typed, later calls succeed", () =>
    withPool(backend, { size: 1, tasks: [I.ClaimProtocolError, I.Work] }, (pool) =>
      Effect.gen(function* () {
        const error = failureOf(yield* Effect.exit(pool.apply(I.ClaimProtocolError, 0)).pipe(Effect.timeout(bound)))
        expect(error._tag).toBe("WorkerCrashed")
        expect(error.reason).toContain("could not read a frame")
        expect(typeof (yield* pool.apply(I.Work, { ms: 0 }).pipe(Effect.timeout(bound)))).toBe("number")
      })
    )
  )

  it.live("a log line longer than the child's bound arrives cut, with a marker; the worker stays", () => {
    const lines: Array<string> = []
    const capture = Logger.make(({ message }) => {
      const text = (Array.isArray(message) ? message : [message]).join(" ")
      if (text.startsWith("zzz")) lines.push(text)
    })
    return withPool(backend, { size: 1, tasks: [I.LogLong] }, (pool) =>
      Effect.gen(function* () {
        const pid = yield* pool.apply(I.LogLong, 4 * 1024 * 1024)
        expect(yield* pool.apply(I.LogLong, 10)).toBe(pid)
        yield* eventually(
          Effect.sync(() => lines.length),
          (count) => count >= 2
        )
        expect(lines.length).toBe(2)
        expect(lines[0]!.length).toBeLessThan(70 * 1024)
        expect(lines[0]).toContain("more characters dropped")
        expect(lines[1]).toBe("z".repeat(10))
      })
    ).pipe(Effect.provide(Logger.layer([capture])))
  })
})

describe("on process: an honest reply over maxFrameBytes fails only its own call", () => {
  const innocents = 8
  const options = { size: 1, concurrency: innocents + 1, tasks: [I.Big, I.BigFailure, I.WorkUntil, I.Work] }
  // Over the default maxFrameBytes (64 MiB): before, the frame cost the worker and every run it held.
  const over = 70 * 1000 * 1000

  it.live(
    "a 70 MB result beside 8 running tasks: PayloadTooLarge for it alone; the others succeed on the same worker, no restart",
    () =>
      withPool("process", options, (pool) =>
        Effect.gen(function* () {
          const pid = yield* pool.apply(I.Work, { ms: 0 })
          const go = yield* IpcEvent.make
          const held = yield* Effect.forkChild(
            Effect.all(
              Array.from({ length: innocents }, () => Effect.exit(pool.apply(I.WorkUntil, { go }))),
              { concurrency: "unbounded" }
            )
          )
          yield* eventually(pool.stats, (stats) => stats.workers[0]?.held === innocents)
          const big = failureOf(yield* Effect.exit(pool.apply(I.Big, over)).pipe(Effect.timeout(bound)))
          expect(big).toMatchObject({ _tag: "PayloadTooLarge", direction: "reply", limit: 64 * 1024 * 1024 })
          yield* IpcEvent.set(go)
          const exits = yield* Fiber.join(held).pipe(Effect.timeout(bound))
          expect(exits.map((exit) => (Exit.isSuccess(exit) ? exit.value : String(exit.cause)))).toEqual(
            Array.from({ length: innocents }, () => pid)
          )
          const stats = yield* pool.stats
          expect(stats.restarts).toBe(0)
          expect(stats.workers.map((worker) => worker.pid)).toEqual([pid])
        }).pipe(Effect.scoped)
      ),
    120_000
  )

  it.live(
    "Process: a 70 MB result is a PayloadTooLarge, not a ProcessCrashed",
    () =>
      Effect.gen(function* () {
        const error = failureOf(yield* Effect.exit(Process.run(I.Big, over)).pipe(Effect.timeout(bound)))
        expect(error).toMatchObject({ _tag: "PayloadTooLarge", direction: "reply", limit: 64 * 1024 * 1024 })
      }).pipe(Effect.provide(NodePool.transport("process"))),
    120_000
  )

  it.live(
    "a 70 MB typed error: PayloadTooLarge for its call; the worker serves on",
    () =>
      withPool("process", options, (pool) =>
        Effect.gen(function* () {
          const pid = yield* pool.apply(I.Work, { ms: 0 })
          const error = failureOf(yield* Effect.exit(pool.apply(I.BigFailure, over)).pipe(Effect.timeout(bound)))
          expect(error).toMatchObject({ _tag: "PayloadTooLarge", direction: "reply" })
          expect(yield* pool.apply(I.Work, { ms: 0 }).pipe(Effect.timeout(bound))).toBe(pid)
          expect((yield* pool.stats).restarts).toBe(0)
        })
      ),
    120_000
  )
})

describe("on process: the parent's intake is bounded", () => {
  const options = { size: 1, maxFrameBytes: 4 * 1024 * 1024, tasks: [I.Scribble, I.Big, I.Work] }

  it.live("an unfinished line over maxFrameBytes kills the worker; its call fails with WorkerCrashed", () =>
    withPool("process", options, (pool) =>
      Effect.gen(function* () {
        const payload = { kind: "partial", bytes: 32 * 1024 * 1024 } as const
        const error = failureOf(yield* Effect.exit(pool.apply(I.Scribble, payload)).pipe(Effect.timeout(bound)))
        expect(error._tag).toBe("WorkerCrashed")
        expect(error.reason).toContain("more than 4194304 bytes")
        expect(typeof (yield* pool.apply(I.Work, { ms: 0 }).pipe(Effect.timeout(bound)))).toBe("number")
      })
    )
  )

  it.live("one frame over maxFrameBytes, sent past the runner, kills the worker; a reply under it arrives", () =>
    withPool("process", options, (pool) =>
      Effect.gen(function* () {
        expect((yield* pool.apply(I.Big, 1024 * 1024)).length).toBe(1024 * 1024)
        const payload = { kind: "frame", bytes: 8 * 1024 * 1024 } as const
        const error = failureOf(yield* Effect.exit(pool.apply(I.Scribble, payload)).pipe(Effect.timeout(bound)))
        expect(error._tag).toBe("WorkerCrashed")
        expect(error.reason).toContain("more than 4194304 bytes")
        expect((yield* pool.apply(I.Big, 10).pipe(Effect.timeout(bound))).length).toBe(10)
      })
    )
  )

  it.live("an honest reply over maxFrameBytes fails alone with PayloadTooLarge; the worker serves on", () =>
    withPool("process", options, (pool) =>
      Effect.gen(function* () {
        const pid = yield* pool.apply(I.Work, { ms: 0 })
        const error = failureOf(yield* Effect.exit(pool.apply(I.Big, 8 * 1024 * 1024)).pipe(Effect.timeout(bound)))
        expect(error).toMatchObject({ _tag: "PayloadTooLarge", direction: "reply", limit: 4 * 1024 * 1024 })
        expect(yield* pool.apply(I.Work, { ms: 0 }).pipe(Effect.timeout(bound))).toBe(pid)
      })
    )
  )

  it.live("garbage on the channel kills the worker, which is replaced", () =>
    withPool("process", options, (pool) =>
      Effect.gen(function* () {
        const payload = { kind: "garbage", bytes: 0 } as const
        const error = failureOf(yield* Effect.exit(pool.apply(I.Scribble, payload)).pipe(Effect.timeout(bound)))
        expect(error._tag).toBe("WorkerCrashed")
        expect(error.reason).toContain("not a message")
        expect(typeof (yield* pool.apply(I.Work, { ms: 0 }).pipe(Effect.timeout(bound)))).toBe("number")
      })
    )
  )

  it("workers stopped for garbage or an endless line leave no file descriptor and no buffered bytes behind", () => {
    const script = fileURLToPath(new URL("./fixtures/intakeParent.ts", import.meta.url))
    const output = execFileSync(process.execPath, ["--expose-gc", script], { encoding: "utf8", timeout: 120_000 })
    const figures = JSON.parse(output.trim().split("\n").at(-1)!) as {
      readonly outcomes: ReadonlyArray<string>
      readonly fds: readonly [number, number]
      readonly heapMb: readonly [number, number]
    }
    expect(new Set(figures.outcomes)).toEqual(new Set(["WorkerCrashed"]))
    // 12 workers stopped, 6 of them after more than 8 MiB of an unfinished line each (before: an fd each, and the bytes).
    expect(figures.fds[1] - figures.fds[0]).toBeLessThanOrEqual(2)
    expect(figures.heapMb[1] - figures.heapMb[0]).toBeLessThan(16)
  }, 180_000)
})
