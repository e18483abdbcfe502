/**
 * How workers load the task modules they serve, on both backends: a module
 * whose top-level `await` never settles is bounded by `moduleLoadTimeout`
 * and does not poison the pool (issue 13, item 7), nor does one that throws
 * at import (it failed the start of a bundled worker); two modules that define
 * a task of the same name are refused rather than run the wrong handler
 * (item 6).
 */
import { mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Task } from "@troupe/core"
import { Effect, Schema } from "effect"
import { build } from "esbuild"
import { onTestFinished } from "vitest"
import { backends, eventually, recordEvents, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"
import { Same as SameA } from "./fixtures/sameA.ts"
import { runScript } from "./fixtures/script.ts"
import { Stuck } from "./fixtures/stuckModule.ts"
import { FromThrowingModule } from "./fixtures/throwingModule.ts"

const sameA = new URL("./fixtures/sameA.ts", import.meta.url).href
const sameB = new URL("./fixtures/sameB.ts", import.meta.url).href

const stuckEnv = { ...process.env, TROUPE_FIXTURE_STUCK: "1" }
const throwsEnv = { ...process.env, TROUPE_FIXTURE_THROWS: "1" }
/** A module that loads (`Stuck` settles without `TROUPE_FIXTURE_STUCK`), to tell the backends' bundles apart. */
const bundleMates = { process: [], thread: [Stuck] }

describe.each(backends)("module loading on %s", (backend) => {
  describe.each([
    ["started from a bundle of their modules", [T.Square]],
    ["started unbundled", []]
  ] as const)("workers %s", (_, tasks) => {
    it.live(
      "a module whose top-level await never settles fails its calls with ModuleLoadTimeout; the pool keeps serving",
      () =>
        withPool(
          backend,
          { size: 2, tasks, env: stuckEnv, moduleLoadTimeout: "1 second", startTimeout: "20 seconds" },
          (pool) =>
            Effect.gen(function* () {
              const events = yield* recordEvents(pool)
              expect(yield* pool.apply(T.Square, 3)).toBe(9)
              const first = yield* Effect.flip(pool.apply(Stuck, undefined))
              expect(first).toMatchObject({ _tag: "SpawnError", reason: "ModuleLoadTimeout", task: "modules/Stuck" })
              // The other module's tasks keep working, on workers that start within their start timeout.
              expect(yield* pool.map(T.Square, [1, 2, 3, 4], { chunkSize: 1 })).toEqual([1, 4, 9, 16])
              // The module is not loaded again: a later call fails at once, with no worker involved.
              const dispatched = (yield* pool.stats).started
              const second = yield* Effect.flip(pool.apply(Stuck, undefined))
              expect(second).toMatchObject({ _tag: "SpawnError", reason: "ModuleLoadTimeout", task: "modules/Stuck" })
              expect((yield* pool.stats).started).toBe(dispatched)
              expect(yield* pool.apply(T.Square, 5)).toBe(25)
              // The worker stuck in the import was replaced (retired, not crashed), and no start failed.
              const retired = yield* eventually(
                Effect.sync(() => events.some((event) => event._tag === "WorkerExited" && event.reason === "retired")),
                (seen) => seen
              )
              expect(retired).toBe(true)
              expect(events.filter((event) => event._tag === "WorkerStartFailed")).toEqual([])
              expect(events.filter((event) => event._tag === "WorkerExited" && event.reason === "crashed")).toEqual([])
            }).pipe(Effect.scoped)
        ),
      60_000
    )
  })

  it.live(
    "a module that throws at import fails only its own calls, with ModuleNotFound; no worker fails to start",
    () =>
      // One worker, both modules named up front: the worker's start must not fail the other module's call. Each
      // backend gets its own set of modules, so neither reuses a bundle the other's workers failed on.
      withPool(
        backend,
        { size: 1, tasks: [T.Square, FromThrowingModule, ...bundleMates[backend]], env: throwsEnv },
        (pool) =>
          Effect.gen(function* () {
            const events = yield* recordEvents(pool)
            expect(yield* pool.apply(T.Square, 3)).toBe(9)
            const failed = yield* Effect.flip(pool.apply(FromThrowingModule, undefined))
            expect(failed).toMatchObject({ _tag: "SpawnError", reason: "ModuleNotFound" })
            expect(failed.message).toContain("this module throws at import")
            expect(yield* pool.apply(T.Square, 4)).toBe(16)
            expect(events.filter((event) => event._tag === "WorkerStartFailed")).toEqual([])
            expect((yield* pool.stats).restarts).toBe(0)
          }).pipe(Effect.scoped)
      ),
    60_000
  )
})

describe("two modules that define a task of the same name", () => {
  it("the second definition is refused with DuplicateTaskName, naming both modules", async () => {
    const error = await import("./fixtures/sameB.ts").then(
      () => undefined,
      (error: unknown) => error
    )
    expect(error).toMatchObject({ _tag: "DuplicateTaskName", task: "modules/Same", module: sameA, duplicate: sameB })
    expect(String((error as Error).message)).toContain(sameB)
    expect(() => Task.make("modules/Same", { success: Schema.String, handler: () => Effect.succeed("C") })).toThrow(
      /modules\/Same is defined by two modules/
    )
    // The first definition stays.
    expect(Task.find("modules/Same")).toBe(SameA)
  })

  describe.each(backends)("on %s", (backend) => {
    it("a program that imports both is refused at the second import: no call runs the wrong handler", async () => {
      const { stdout, code } = await runScript(
        fileURLToPath(new URL("./fixtures/sameNameParent.ts", import.meta.url)),
        [backend]
      )
      expect(code).toBe(0)
      expect(JSON.parse(stdout.trim().split("\n").at(-1)!)).toMatchObject({
        refused: { _tag: "DuplicateTaskName", task: "modules/Same", module: sameA, duplicate: sameB }
      })
    })
  })
})

describe("a program bundled whole with esbuild, @troupe/node inside the bundle", () => {
  const program = fileURLToPath(new URL("./fixtures/appBundle.ts", import.meta.url))
  const repositoryModules = fileURLToPath(new URL("../../../node_modules", import.meta.url))

  /** Bundles the program into a fresh folder outside the repository, with or without a `node_modules` beside it. */
  const bundle = async (format: "esm" | "cjs", installed: boolean) => {
    const folder = mkdtempSync(join(tmpdir(), "troupe-app-bundle-"))
    onTestFinished(() => rmSync(folder, { recursive: true, force: true }))
    if (installed) symlinkSync(repositoryModules, join(folder, "node_modules"), "dir")
    const outfile = join(folder, format === "esm" ? "app.mjs" : "app.cjs")
    await build({
      entryPoints: [program],
      bundle: true,
      platform: "node",
      format,
      outfile,
      logLevel: "silent",
      define: { APP_FORMAT: JSON.stringify(format) }
    })
    return outfile
  }

  const outcome = async (file: string, backend: string) => {
    const { stdout, stderr } = await runScript(file, [backend], 60_000)
    const last = stdout.trim().split("\n").at(-1)
    if (last === undefined || last === "") throw new Error(`no outcome printed; stderr: ${stderr}`)
    return JSON.parse(last)
  }

  describe.each(backends)("on %s", (backend) => {
    it.each(["esm", "cjs"] as const)(
      "%s: the pool starts its workers from the installed package's entry points and answers",
      async (format) => {
        expect(await outcome(await bundle(format, true), backend)).toEqual({ value: 49 })
      },
      90_000
    )

    it("with no @troupe/node installed where the bundle runs, the call fails with a SpawnError that says why", async () => {
      const { error } = await outcome(await bundle("esm", false), backend)
      expect(error).toMatchObject({ _tag: "SpawnError", reason: "ForkFailed" })
      expect(error.message).toContain("--packages=external")
    }, 90_000)
  })
})
