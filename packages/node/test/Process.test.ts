/**
 * `Process` on real forked children: exit codes, signals, handle misuse, many
 * processes, typed errors across the boundary, spawn failures, captured
 * output, and scope-driven shutdown. Scenarios S01-S04 of shared/semantics.md.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Process, Task, Transport } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Duration, Effect, Fiber, Layer, Option, Schedule, Scope, Stream } from "effect"
import * as Exit from "effect/Exit"
import { isRunning, survivorsAfter } from "./fixtures/os.ts"
import * as Fixtures from "./fixtures/tasks.ts"

const firstLine = (stream: Stream.Stream<Uint8Array>) =>
  stream.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead, Effect.map(Option.getOrThrow))

const text = (stream: Stream.Stream<Uint8Array>) => stream.pipe(Stream.decodeText(), Stream.mkString)

/** Waits until `path` exists (polled: the file is the child's event). */
const untilExists = (path: string) =>
  Effect.suspend(() => (existsSync(path) ? Effect.void : Effect.fail("absent" as const))).pipe(
    Effect.retry(Schedule.spaced("20 millis"))
  )

/** `NodeProcess.layer`, with every connection it spawns kept in `spawned`: how a `Process.run` child ended. */
const recording = () => {
  const spawned: Array<Transport.Connection> = []
  const layer = Layer.effect(
    Transport.Transport,
    Transport.Transport.use((transport) =>
      Effect.succeed(
        Transport.Transport.of({
          ...transport,
          spawn: (options, onFrame) =>
            Effect.tap(transport.spawn(options, onFrame), (connection) => Effect.sync(() => spawned.push(connection)))
        })
      )
    )
  ).pipe(Layer.provide(NodeProcess.layer))
  return { spawned, layer }
}

describe("Process", () => {
  describe("S01 exit codes", () => {
    it.live("a task that returns exits with code 0", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.Sleep, 0)
        const exit = yield* child.join
        expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null })
        expect(yield* child.isAlive).toBe(false)
        yield* child.result
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("process.exit(8) exits with code 8, and the result is a typed crash", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.ExitWith, { code: 8, afterMs: 0 })
        const exit = yield* child.join
        expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 8, signal: null })
        const error = yield* Effect.flip(child.result)
        expect(error._tag).toBe("ProcessCrashed")
        expect(error).toMatchObject({ pid: child.pid, exitCode: 8, signal: null, task: "ExitWith" })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("an uncaught error exits with code 1", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.ThrowUncaught, undefined, { stderr: "pipe" })
        const exit = yield* child.join
        expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 1, signal: null })
        expect(yield* text(child.stderr)).toContain("thrown outside the task's Effect")
        const error = yield* Effect.flip(child.result)
        expect(error).toMatchObject({ _tag: "ProcessCrashed", exitCode: 1 })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("process.exit(0) after 200 ms exits with code 0, and the result is a crash (no reply)", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.ExitWith, { code: 0, afterMs: 200 })
        expect(yield* child.isAlive).toBe(true)
        const exit = yield* child.join
        expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null })
        expect(yield* child.isAlive).toBe(false)
        expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", exitCode: 0 })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("running out of memory is a typed crash", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.Allocate, undefined, {
          execArgv: ["--max-old-space-size=32"],
          stderr: "pipe"
        })
        const exit = yield* child.join
        expect(exit.code === 0).toBe(false)
        expect(exit.code !== null || exit.signal !== null).toBe(true)
        expect(yield* text(child.stderr)).toMatch(/heap out of memory/i)
        const error = yield* Effect.flip(child.result)
        expect(error).toMatchObject({ _tag: "ProcessCrashed", exitCode: exit.code, signal: exit.signal })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )
  })

  describe("S02 signals", () => {
    for (const [operation, signal] of [
      ["terminate", "SIGTERM"],
      ["kill", "SIGKILL"],
      ["interrupt", "SIGINT"]
    ] as const) {
      it.live(`${operation} ends a sleeping child with ${signal}`, () =>
        Effect.gen(function* () {
          const child = yield* Process.start(Fixtures.Sleep, 100_000)
          const early = yield* child.joinTimeout(0).pipe(Effect.timed)
          expect(Option.isNone(early[1])).toBe(true)
          // A hang bound: the child sleeps 100 s, so a joinTimeout(0) that waited would take that long.
          expect(Duration.toMillis(early[0])).toBeLessThan(10_000)
          expect(yield* child.isAlive).toBe(true)
          yield* child[operation]
          const [elapsed, exit] = yield* Effect.timed(child.join)
          expect(Duration.toMillis(elapsed)).toBeLessThan(10_000)
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: null, signal })
          expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", signal, exitCode: null })
        }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
      )
    }

    it.live("joinTimeout returns the exit once the child is done", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.Sleep, 50)
        const exit = yield* child.joinTimeout("20 seconds")
        expect(Option.map(exit, (e) => e.code)).toEqual(Option.some(0))
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )
  })

  describe("S03 handle misuse", () => {
    it.live("close fails while running, then every operation fails with ProcessClosed", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.Sleep, 300)
        const stillRunning = yield* Effect.flip(child.close)
        expect(stillRunning).toMatchObject({ _tag: "ProcessStillRunning", pid: child.pid })
        yield* child.join
        yield* child.close
        yield* child.close
        for (const operation of [child.join, child.kill, child.isAlive, child.terminate, child.result]) {
          expect(yield* Effect.flip(operation)).toMatchObject({ _tag: "ProcessClosed", pid: child.pid })
        }
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )
  })

  describe("S04 many processes", () => {
    it.live(
      "100 short children exit 0; 100 sleeping children end with SIGTERM within 5 s; no orphans",
      () =>
        Effect.gen(function* () {
          const short = yield* Effect.forEach(Array.from({ length: 100 }), () => Process.start(Fixtures.Sleep, 10))
          const shortExits = yield* Effect.forEach(short, (child) => child.join)
          expect(shortExits.map((exit) => exit.code)).toEqual(Array.from({ length: 100 }, () => 0))

          const long = yield* Effect.forEach(Array.from({ length: 100 }), () => Process.start(Fixtures.Sleep, 100_000))
          const [elapsed, longExits] = yield* Effect.timed(
            Effect.forEach(long, (child) => child.terminate).pipe(
              Effect.andThen(Effect.forEach(long, (child) => child.join))
            )
          )
          expect(longExits.map((exit) => exit.signal)).toEqual(Array.from({ length: 100 }, () => "SIGTERM"))
          expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
          const pids = [...short, ...long].map((child) => child.pid)
          expect(yield* Effect.promise(() => survivorsAfter(pids, 2000))).toEqual([])
        }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
      120_000
    )
  })

  describe("results across the boundary", () => {
    it.live("a success is decoded with the task's Schema", () =>
      Effect.gen(function* () {
        expect(yield* Process.run(Fixtures.Square, 12)).toBe(144)
        expect(yield* Process.run(Fixtures.NonNegativeSquare, { n: 9 })).toBe(81)
      }).pipe(Effect.provide(NodeProcess.layer))
    )

    it.live("a typed error arrives value-equal, of its own class, with the remote stack as its cause", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.FindItem, "x")
        const error = yield* Effect.flip(child.result)
        expect(error).toBeInstanceOf(Fixtures.NotFound)
        expect(error._tag).toBe("NotFound")
        if (error._tag !== "NotFound") return
        expect({ id: error.id, at: error.at }).toEqual({ id: "x", at: 3 })
        expect(String((error.cause as Error).stack)).toContain("fixtures/tasks.ts")
        const exit = yield* child.join
        expect(exit.code).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("a handler that throws is a RemoteDefect with name, message and stack", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Process.run(Fixtures.Explode, undefined))
        expect(error).toMatchObject({ _tag: "RemoteDefect", task: "Explode", name: "RangeError", message: "boom" })
        expect(error._tag === "RemoteDefect" && error.stack).toContain("fixtures/tasks.ts")
        const nonError = yield* Effect.flip(Process.run(Fixtures.ThrowNonError, undefined))
        expect(nonError).toMatchObject({ _tag: "RemoteDefect", name: "NonErrorThrown", message: '{"weird":1}' })
      }).pipe(Effect.provide(NodeProcess.layer))
    )

    it.live("a result that does not match the success Schema is a ResultEncodeError", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Process.run(Fixtures.WrongResult, undefined))
        expect(error).toMatchObject({ _tag: "ResultEncodeError", task: "WrongResult" })
      }).pipe(Effect.provide(NodeProcess.layer))
    )

    it.live("a payload that fails its Schema is rejected before any child starts", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Process.run(Fixtures.NonNegativeSquare, { n: -1 }))
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(Process.run(Fixtures.NonNegativeSquare, { n: -1 }))
        expect(error).toMatchObject({ _tag: "RequestValidationError", task: "NonNegativeSquare" })
        expect(error.message).toContain("n")
      }).pipe(Effect.provide(NodeProcess.layer))
    )
  })

  describe("spawn failures", () => {
    it.live("a module that cannot be imported is a SpawnError, not a task failure", () =>
      Effect.gen(function* () {
        const missing = new URL("./fixtures/does-not-exist.ts", import.meta.url).href
        const error = yield* Effect.flip(Process.run(Fixtures.Square, 2, { module: missing }))
        expect(error).toMatchObject({ _tag: "SpawnError", reason: "ModuleNotFound", module: missing, task: "Square" })
      }).pipe(Effect.provide(NodeProcess.layer))
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
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live(
      "under node --watch (WATCH_REPORT_DEPENDENCIES in the environment), the child is not killed for the modules Node reports",
      () =>
        // `node --watch` sets WATCH_REPORT_DEPENDENCIES for the program; a child that inherits it and has an
        // IPC channel sends `{ "watch:import": [...] }` on it for every module it loads.
        Effect.gen(function* () {
          const env = { ...process.env, WATCH_REPORT_DEPENDENCIES: "1" }
          expect(yield* Process.run(Fixtures.Square, 7, { env }).pipe(Effect.timeout("30 seconds"))).toBe(49)
        }).pipe(Effect.provide(NodeProcess.layer))
    )

    it("a task remembers the module that defined it", () => {
      expect(Fixtures.Square.module).toBe(new URL("./fixtures/tasks.ts", import.meta.url).href)
    })
  })

  describe("output", () => {
    it.live("stdout and stderr can be captured as streams", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(
          Fixtures.Print,
          { out: "to stdout\n", err: "to stderr\n" },
          {
            stdout: "pipe",
            stderr: "pipe"
          }
        )
        const [out, err] = yield* Effect.all([text(child.stdout), text(child.stderr)], { concurrency: 2 })
        expect(out).toBe("to stdout\n")
        expect(err).toBe("to stderr\n")
        yield* child.result
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("a child exits once everything it wrote has gone out: megabytes on a pipe arrive whole", () =>
      Effect.gen(function* () {
        // More than a pipe holds: Node writes the rest from the child's event loop, which process.exit used to cut.
        const out = "o".repeat(4_000_000)
        const err = "e".repeat(1_000_000)
        const child = yield* Process.start(Fixtures.Print, { out, err }, { stdout: "pipe", stderr: "pipe" })
        const [stdout, stderr] = yield* Effect.all([text(child.stdout), text(child.stderr)], { concurrency: 2 })
        expect([stdout.length, stderr.length]).toEqual([out.length, err.length])
        yield* child.result
        expect(yield* child.join).toEqual({ code: 0, signal: null })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("a handler's own process.exit(n) loses none of what it wrote to a pipe", () =>
      Effect.gen(function* () {
        // Node writes to a pipe asynchronously: process.exit dropped all but the first tens of kilobytes.
        const out = "o".repeat(2_000_000)
        const err = "e".repeat(500_000)
        const child = yield* Process.start(
          Fixtures.Print,
          { out, err, exitCode: 3 },
          { stdout: "pipe", stderr: "pipe" }
        )
        const [stdout, stderr] = yield* Effect.all([text(child.stdout), text(child.stderr)], { concurrency: 2 })
        expect([stdout.length, stderr.length]).toEqual([out.length, err.length])
        expect(yield* child.join).toEqual({ code: 3, signal: null })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )
  })

  describe("scope", () => {
    it.live("leaving the scope terminates the child and kills its grandchildren", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const child = yield* Process.start(Fixtures.SpawnGrandchild, undefined, { stdout: "pipe" }).pipe(
          Scope.provide(scope)
        )
        const grandchild = Number(yield* firstLine(child.stdout))
        expect(isRunning(child.pid)).toBe(true)
        expect(isRunning(grandchild)).toBe(true)
        yield* Scope.close(scope, Exit.void)
        expect(yield* Effect.promise(() => survivorsAfter([child.pid, grandchild], 1000))).toEqual([])
      }).pipe(Effect.provide(NodeProcess.layer))
    )

    it.live("a child that ignores SIGTERM is killed after the shutdown timeout", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const child = yield* Process.start(Fixtures.IgnoreSigterm, undefined, {
          stdout: "pipe",
          shutdownTimeout: "300 millis"
        }).pipe(Scope.provide(scope))
        yield* firstLine(child.stdout)
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
        expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(300)
        expect(isRunning(child.pid)).toBe(false)
      }).pipe(Effect.provide(NodeProcess.layer))
    )
  })

  describe("graceful termination", () => {
    it.live(
      "leaving the scope runs the task's finalizers, the child still ends by SIGTERM, and its result settles",
      () =>
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "troupe-term-"))
          const scope = yield* Scope.make()
          const child = yield* Process.start(Fixtures.HoldResource, dir, { shutdownTimeout: "20 seconds" }).pipe(
            Scope.provide(scope)
          )
          yield* untilExists(join(dir, "held"))
          // A hang bound: a child whose SIGTERM runs nothing would wait for the SIGKILL 20 s later.
          const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
          expect(existsSync(join(dir, "released"))).toBe(true)
          const exit = yield* child.join
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: null, signal: "SIGTERM" })
          expect(Duration.toMillis(elapsed)).toBeLessThan(15_000)
          // Read after the scope closed, the result is the exit's (the bound catches a result that never settles).
          const result = yield* Effect.flip(child.result).pipe(Effect.timeout("20 seconds"))
          expect(result).toMatchObject({ _tag: "ProcessCrashed", signal: "SIGTERM" })
        }).pipe(Effect.provide(NodeProcess.layer))
    )

    it.live("Process.run under Effect.timeout runs the task's finalizers, and the child ends by SIGTERM", () =>
      Effect.gen(function* () {
        const { layer, spawned } = recording()
        const dir = mkdtempSync(join(tmpdir(), "troupe-term-"))
        // The timeout must fire once the task holds its resource: a child slow to start gets a longer one.
        let timeout = 1000
        while (!existsSync(join(dir, "held")) && timeout <= 16_000) {
          const outcome = yield* Process.run(Fixtures.HoldResource, dir).pipe(
            Effect.timeout(Duration.millis(timeout)),
            Effect.flip,
            Effect.provide(layer)
          )
          expect(outcome._tag).toBe("TimeoutError")
          timeout *= 2
        }
        expect(existsSync(join(dir, "held"))).toBe(true)
        expect(existsSync(join(dir, "released"))).toBe(true)
        const status = spawned.at(-1)!.exitStatus()!
        expect({ code: status.code, signal: status.signal }).toEqual({ code: null, signal: "SIGTERM" })
      })
    )

    it.live(
      "terminate lets a slow release finish, a second SIGTERM changes nothing, the result is ProcessCrashed",
      () =>
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "troupe-term-"))
          const child = yield* Process.start(Fixtures.HoldSlowRelease, { dir, releaseMs: 300 })
          yield* untilExists(join(dir, "held"))
          yield* child.terminate
          yield* child.terminate
          const exit = yield* child.join
          expect(existsSync(join(dir, "released"))).toBe(true)
          expect({ code: exit.code, signal: exit.signal }).toEqual({ code: null, signal: "SIGTERM" })
          // The run the signal interrupted replied `Interrupted`: the result is the exit's, as before.
          expect(yield* Effect.flip(child.result)).toMatchObject({ _tag: "ProcessCrashed", signal: "SIGTERM" })
        }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("terminate alone ends a task that blocks synchronously: SIGKILL after the shutdown timeout", () =>
      Effect.gen(function* () {
        const child = yield* Process.start(Fixtures.Spin, undefined, { stdout: "pipe", shutdownTimeout: "300 millis" })
        yield* firstLine(child.stdout)
        yield* child.terminate
        const exit = yield* child.join.pipe(Effect.timeout("20 seconds"))
        expect({ code: exit.code, signal: exit.signal }).toEqual({ code: null, signal: "SIGKILL" })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )

    it.live("a task that blocks synchronously is still killed after the shutdown timeout", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const child = yield* Process.start(Fixtures.Spin, undefined, {
          stdout: "pipe",
          shutdownTimeout: "300 millis"
        }).pipe(Scope.provide(scope))
        yield* firstLine(child.stdout)
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
        expect(Duration.toMillis(elapsed)).toBeLessThan(10_000)
        expect(isRunning(child.pid)).toBe(false)
        const exit = yield* child.join
        expect(exit.signal === "SIGTERM" || exit.signal === "SIGKILL").toBe(true)
      }).pipe(Effect.provide(NodeProcess.layer))
    )

    it.live(
      "a SIGTERM from outside to a child whose release hangs: SIGKILL after the shutdown timeout, run settles",
      () =>
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "troupe-term-"))
          const running = yield* Process.run(
            Fixtures.HoldSlowRelease,
            { dir, releaseMs: 600_000 },
            {
              shutdownTimeout: "300 millis"
            }
          ).pipe(Effect.flip, Effect.forkChild)
          yield* untilExists(join(dir, "held"))
          // Nobody in the program stops it: `kill -TERM <pid>` from a shell.
          process.kill(Number(readFileSync(join(dir, "held"), "utf8")), "SIGTERM")
          // A hang bound: the child never ends by itself, its release waits 10 minutes.
          const error = yield* Fiber.join(running).pipe(Effect.timeout("20 seconds"))
          expect(error).toMatchObject({ _tag: "ProcessCrashed", signal: "SIGKILL" })
        }).pipe(Effect.provide(NodeProcess.layer)),
      60_000
    )
  })
})
