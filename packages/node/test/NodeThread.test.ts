/**
 * `Process` on real worker threads (`NodeThread.layer`): round trips, typed
 * errors and defects across the boundary, exits, termination, crashes that
 * must not harm the parent, memory limits, captured output, spawn failures,
 * scope-driven shutdown, and the transport's own contract (thread ids,
 * environment copies, frames that cannot be cloned).
 */
import { describe, expect, it, vi } from "@effect/vitest"
import { ChildRunner, Process, Task, Transport } from "@troupe/core"
import { Deferred, Duration, Effect, Option, Scope, Stream } from "effect"
import * as Exit from "effect/Exit"
import * as NodeThread from "../src/NodeThread.ts"
import * as Fixtures from "./fixtures/tasks.ts"

const firstLine = (stream: Stream.Stream<Uint8Array>) =>
  stream.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead, Effect.map(Option.getOrThrow))

const text = (stream: Stream.Stream<Uint8Array>) => stream.pipe(Stream.decodeText(), Stream.mkString)

describe("NodeThread", () => {
  describe("results across the boundary", () => {
    it.live(
      "a success is decoded with the task's Schema, every time",
      () =>
        Effect.gen(function* () {
          expect(yield* Process.run(Fixtures.NonNegativeSquare, { n: 9 })).toBe(81)
          // A `once` thread exits right after posting its reply: each run checks
          // that the reply is delivered before the exit is reported.
          const squares = yield* Effect.forEach([0, 1, 2, 3, 4], (n) => Process.run(Fixtures.Square, n))
          expect(squares).toEqual([0, 1, 4, 9, 16])
        }).pipe(Effect.provide(NodeThread.layer)),
      30_000
    )

    it.live("the task runs on another thread of this process, and pid is its thread id", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.WhereAmI, undefined)
        const where = yield* child.result
        expect(where.pid).toBe(process.pid)
        expect(where.threadId).toBeGreaterThan(0)
        expect(child.pid).toBe(where.threadId)
        expect(yield* child.join).toMatchObject({ code: 0, signal: null })
      }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
    )

    it.live("a typed error arrives as an instance of its class", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.FindItem, "x")
        const error = yield* Effect.flip(child.result)
        expect(error).toBeInstanceOf(Fixtures.NotFound)
        if (error._tag !== "NotFound") return expect.unreachable()
        expect({ id: error.id, at: error.at }).toEqual({ id: "x", at: 3 })
        expect(String((error.cause as Error).stack)).toContain("fixtures/tasks.ts")
        expect((yield* child.join).code).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
    )

    it.live("a handler that throws is a RemoteDefect", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Process.run(Fixtures.Explode, undefined))
        expect(error).toMatchObject({ _tag: "RemoteDefect", task: "Explode", name: "RangeError", message: "boom" })
        expect(error._tag === "RemoteDefect" && error.stack).toContain("fixtures/tasks.ts")
      }).pipe(Effect.provide(NodeThread.layer))
    )
  })

  describe("exits", () => {
    it.live(
      "process.exit(8) ends the thread with code 8, and the result is a typed crash",
      () =>
        Effect.gen(function* () {
          const child = yield* Process.start(Fixtures.ExitWith, { code: 8, afterMs: 0 })
          const exit = yield* child.join
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 8, signal: null })
          const error = yield* Effect.flip(child.result)
          expect(error).toMatchObject({ _tag: "ProcessCrashed", pid: child.pid, exitCode: 8, signal: null })
          expect(yield* Process.run(Fixtures.Square, 3)).toBe(9)
        }).pipe(Effect.scoped, Effect.provide(NodeThread.layer)),
      30_000
    )

    for (const operation of ["terminate", "kill", "interrupt"] as const) {
      it.live(`${operation} ends a sleeping thread with code 1`, () =>
        Effect.gen(function* () {
          const child = yield* Process.start(Fixtures.Sleep, 100_000)
          expect(Option.isNone(yield* child.joinTimeout("100 millis"))).toBe(true)
          expect(yield* child.isAlive).toBe(true)
          yield* child[operation]
          const [elapsed, exit] = yield* Effect.timed(child.join)
          // A hang bound: the thread sleeps 100 s unless the operation ends it.
          expect(Duration.toMillis(elapsed)).toBeLessThan(10_000)
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 1, signal: null })
          expect(yield* child.isAlive).toBe(false)
          expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", exitCode: 1, signal: null })
          // Once the thread has exited, signalling is a no-op.
          yield* child[operation]
          expect(yield* child.join).toBe(exit)
        }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
      )
    }

    it.live("a thread terminated while it is still starting also ends with code 1", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.Sleep, 100_000)
        yield* child.terminate
        expect(yield* child.join).toMatchObject({ code: 1, signal: null })
        expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", exitCode: 1, signal: null })
      }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
    )

    it.live(
      "an uncaught throw in a timer ends the thread with code 1; the parent is unharmed",
      () =>
        Effect.gen(function* () {
          const child = yield* Process.start(Fixtures.ThrowUncaught, undefined, { stderr: "pipe" })
          const exit = yield* child.join
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 1, signal: null })
          expect(yield* text(child.stderr)).toContain("thrown outside the task's Effect")
          expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", exitCode: 1 })
          expect(yield* Process.run(Fixtures.Square, 5)).toBe(25)
        }).pipe(Effect.scoped, Effect.provide(NodeThread.layer)),
      30_000
    )

    it.live("with inherited stderr, an uncaught throw is printed on the parent's stderr", () => {
      const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true)
      return Effect.gen(function* () {
        const error = yield* Effect.flip(Process.run(Fixtures.ThrowUncaught, undefined))
        expect(error).toMatchObject({ _tag: "ProcessCrashed", exitCode: 1 })
        expect(write.mock.calls.map(([chunk]) => String(chunk)).join("")).toContain("thrown outside the task's Effect")
      }).pipe(Effect.ensuring(Effect.sync(() => write.mockRestore())), Effect.provide(NodeThread.layer))
    })

    it.live(
      "running out of memory under --max-old-space-size ends the thread, not the process",
      () =>
        Effect.gen(function* () {
          const child = yield* Process.start(Fixtures.Allocate, undefined, {
            execArgv: ["--max-old-space-size=32"],
            stderr: "pipe"
          })
          const exit = yield* child.join
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 1, signal: null })
          expect(yield* text(child.stderr)).toMatch(/heap out of memory/i)
          expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", exitCode: 1, signal: null })
          expect(yield* Process.run(Fixtures.Square, 6)).toBe(36)
        }).pipe(Effect.scoped, Effect.provide(NodeThread.layer)),
      30_000
    )
  })

  describe("spawn failures", () => {
    it.live("a module that cannot be imported is a SpawnError", () =>
      Effect.gen(function* () {
        const missing = new URL("./fixtures/does-not-exist.ts", import.meta.url).href
        const error = yield* Effect.flip(Process.run(Fixtures.Square, 2, { module: missing }))
        expect(error).toMatchObject({ _tag: "SpawnError", reason: "ModuleNotFound", module: missing, task: "Square" })
      }).pipe(Effect.provide(NodeThread.layer))
    )

    it.live("a task the module does not define is a SpawnError", () =>
      Effect.gen(function* () {
        const Ghost = Task.make("Ghost", {
          module: new URL("./fixtures/tasks.ts", import.meta.url).href,
          handler: () => Effect.void
        })
        const child = yield* Process.start(Ghost, undefined)
        const error = yield* Effect.flip(child.result)
        expect(error).toMatchObject({ _tag: "SpawnError", reason: "TaskNotFound", task: "Ghost" })
        expect((yield* child.join).code).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
    )

    it.live("a runtime flag a thread does not accept is a SpawnError that names it", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Process.run(Fixtures.Square, 2, { execArgv: ["--expose-gc"] }))
        expect(error).toMatchObject({ _tag: "SpawnError", reason: "ForkFailed" })
        expect(error.message).toContain("--expose-gc")
      }).pipe(Effect.provide(NodeThread.layer))
    )
  })

  describe("environment", () => {
    it.live(
      "a thread gets a copy of the given env, without its unset variables",
      () =>
        Effect.gen(function* () {
          const env = { TROUPE_PROBE: "given", TROUPE_UNSET: undefined }
          expect(yield* Process.run(Fixtures.SetEnv, { name: "TROUPE_PROBE", value: "thread" }, { env })).toBe("given")
          expect(yield* Process.run(Fixtures.SetEnv, { name: "TROUPE_UNSET", value: "thread" }, { env })).toBeNull()
          expect(process.env.TROUPE_PROBE).toBeUndefined()
        }).pipe(Effect.provide(NodeThread.layer)),
      30_000
    )

    it.live(
      "under node --watch (WATCH_REPORT_DEPENDENCIES in the environment), the thread starts and answers",
      () =>
        Effect.gen(function* () {
          const env = { ...process.env, WATCH_REPORT_DEPENDENCIES: "1" }
          expect(yield* Process.run(Fixtures.Square, 7, { env }).pipe(Effect.timeout("30 seconds"))).toBe(49)
        }).pipe(Effect.provide(NodeThread.layer)),
      60_000
    )

    it.live("by default a thread gets a copy of the parent's env, so its changes stay in the thread", () =>
      Effect.gen(function* () {
        process.env.TROUPE_INHERITED = "parent"
        const previous = yield* Process.run(Fixtures.SetEnv, { name: "TROUPE_INHERITED", value: "thread" })
        expect(previous).toBe("parent")
        expect(process.env.TROUPE_INHERITED).toBe("parent")
      }).pipe(Effect.ensuring(Effect.sync(() => delete process.env.TROUPE_INHERITED)), Effect.provide(NodeThread.layer))
    )
  })

  describe("output", () => {
    it.live("stdout and stderr can be captured as streams", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(
          Fixtures.Print,
          { out: "to stdout\n", err: "to stderr\n" },
          { stdout: "pipe", stderr: "pipe" }
        )
        const [out, err] = yield* Effect.all([text(child.stdout), text(child.stderr)], { concurrency: 2 })
        expect(out).toBe("to stdout\n")
        expect(err).toBe("to stderr\n")
        yield* child.result
      }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
    )
  })

  describe("scope", () => {
    it.live("leaving the scope stops a sleeping thread and waits for it", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const child = yield* Process.start(Fixtures.Sleep, 100_000).pipe(Scope.provide(scope))
        expect(Option.isNone(yield* child.joinTimeout("100 millis"))).toBe(true)
        expect(yield* child.isAlive).toBe(true)
        yield* Scope.close(scope, Exit.void)
        expect(yield* child.isAlive).toBe(false)
        expect((yield* child.join).code).toBe(1)
      }).pipe(Effect.provide(NodeThread.layer))
    )

    it.live("leaving the scope stops a thread stuck in a synchronous loop", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const child = yield* Process.start(Fixtures.Spin, undefined, {
          stdout: "pipe",
          shutdownTimeout: "10 seconds"
        }).pipe(Scope.provide(scope))
        expect(yield* firstLine(child.stdout)).toBe("spinning")
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
        // Under the 10 s shutdownTimeout: the loop never yields, so only a terminate ends it that early.
        expect(Duration.toMillis(elapsed)).toBeLessThan(8000)
        expect(yield* child.isAlive).toBe(false)
      }).pipe(Effect.provide(NodeThread.layer))
    )
  })

  describe("transport", () => {
    it.live("the Ready frame carries the thread id; a frame that cannot be cloned is an ArgumentEncodeError", () =>
      Effect.gen(function* () {
        const transport = yield* Transport.Transport
        const ready = yield* Deferred.make<unknown>()
        const connection = yield* transport.spawn(
          {
            stdout: "inherit",
            stderr: "inherit",
            runner: ChildRunner.defaultOptions,
            shutdownTimeout: "2 seconds"
          },
          (frame) => Deferred.doneUnsafe(ready, Exit.succeed(frame))
        )
        expect(yield* Deferred.await(ready)).toEqual({ _tag: "Ready", pid: connection.pid })
        const unclonable = { _tag: "Run", id: 0, module: "m", task: "Square", payload: () => 1 }
        const error = yield* Effect.flip(connection.send(unclonable))
        expect(error).toMatchObject({ _tag: "ArgumentEncodeError", task: "Square" })
        expect(error.message).toMatch(/could not be cloned/)
        expect(() => connection.sendUnsafe(unclonable)).toThrow(/could not be cloned/)
        expect(connection.exitStatus()).toBeUndefined()
        yield* connection.signal("SIGTERM")
        expect(yield* connection.exited).toMatchObject({ code: 1, signal: null })
      }).pipe(Effect.scoped, Effect.provide(NodeThread.layer))
    )
  })
})
