/**
 * Bad input at the process boundary, under load: each case is a typed error
 * at the boundary, and the pool is healthy afterwards (the same workers, or
 * replacements, serving every later call). Large payloads (S47) cross intact.
 */
import { spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Effect, Exit, Option } from "effect"
import { mb, settledHeap } from "./chaos.ts"
import { tempFile } from "./fixtures/paths.ts"
import * as T from "./fixtures/tasks.ts"
import { report } from "./report.ts"

const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Exit.findErrorOption(exit)
  return Option.isSome(error) ? String((error.value as { _tag?: unknown })._tag) : "defect"
}

const count = (tags: ReadonlyArray<string>) => {
  const counts: Record<string, number> = {}
  for (const tag of tags) counts[tag] = (counts[tag] ?? 0) + 1
  return counts
}

const options: Pool.Options = {
  size: 4,
  tasks: [T.Work],
  // Only the workers have this variable: see `Skewed`.
  env: { ...process.env, RELIABILITY_CHILD: "1" }
}

const withPool = <A, E>(f: (pool: Pool.Service) => Effect.Effect<A, E>, extra: Pool.Options = {}) =>
  Effect.scoped(Effect.flatMap(Pool.make({ ...options, ...extra }), f)).pipe(
    Effect.provide(NodePool.transport("process"))
  )

const readyPids = (pool: Pool.Service) =>
  Effect.sleep(20).pipe(
    Effect.andThen(pool.stats),
    Effect.repeat({
      until: (stats) => stats.workers.every((worker) => worker.state === "ready")
    }),
    Effect.timeout("30 seconds"),
    Effect.map((stats) => stats.workers.map((worker) => worker.pid).sort())
  )

/** The pool serves 200 more calls after the case, and reports no crash unless `restarts` allows one. */
const healthy = (pool: Pool.Service) =>
  Effect.gen(function* () {
    const values = yield* pool.map(
      T.Work,
      Array.from({ length: 200 }, (_, n) => ({ n, ms: 0 })),
      { chunkSize: 1, timeout: "10 seconds" }
    )
    expect(values).toEqual(Array.from({ length: 200 }, (_, n) => n))
  })

describe("bad input at the boundary, under load", () => {
  it.live("a payload that fails its Schema is rejected in the caller; nothing is sent; the workers stay", () =>
    withPool((pool) =>
      Effect.gen(function* () {
        const ticks = tempFile("ticks")
        writeFileSync(ticks, "")
        const before = yield* readyPids(pool)
        const exits = yield* Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) => Effect.exit(pool.apply(T.Strict, { n: i % 10 === 0 ? -i - 1 : i, ticks })),
          { concurrency: 64 }
        )
        const tags = exits.map(tagOf)
        // One bad item rejects a whole map before anything is sent.
        const map = yield* Effect.exit(
          pool.map(T.Strict, [
            { n: 1, ticks },
            { n: 1.5, ticks },
            ...Array.from({ length: 100 }, () => ({ n: 2, ticks }))
          ])
        )
        expect(count(tags)).toEqual({ ok: 900, RequestValidationError: 100 })
        expect(tagOf(map)).toBe("RequestValidationError")
        expect(readFileSync(ticks, "utf8")).toHaveLength(900)
        expect((yield* pool.stats).restarts).toBe(0)
        expect(yield* readyPids(pool)).toEqual(before)
        yield* healthy(pool)
      })
    )
  )

  it.live("a reply the parent's Schema rejects is a ReplyValidationError; the worker is not replaced", () =>
    withPool((pool) =>
      Effect.gen(function* () {
        const before = yield* readyPids(pool)
        const exits = yield* Effect.forEach(
          Array.from({ length: 400 }, (_, i) => i),
          (i) =>
            Effect.exit(i % 4 === 0 ? pool.apply(T.Skewed, i) : pool.apply(T.Work, { n: i, ms: 0 })).pipe(
              Effect.map((exit) => [i % 4 === 0 ? "skewed" : "work", tagOf(exit)] as const)
            ),
          { concurrency: 64 }
        )
        expect(count(exits.filter(([kind]) => kind === "skewed").map(([, tag]) => tag))).toEqual({
          ReplyValidationError: 100
        })
        expect(count(exits.filter(([kind]) => kind === "work").map(([, tag]) => tag))).toEqual({ ok: 300 })
        const error = Exit.findErrorOption(yield* Effect.exit(pool.apply(T.Skewed, 5)))
        expect(error).toMatchObject({ value: { _tag: "ReplyValidationError", task: "reliability/Skewed" } })
        // A negative number is what the parent accepts: the same task then succeeds.
        expect(yield* pool.apply(T.Skewed, -5)).toBe(-5)
        expect((yield* pool.stats).restarts).toBe(0)
        expect(yield* readyPids(pool)).toEqual(before)
        yield* healthy(pool)
      })
    )
  )

  it.live(
    "values JSON cannot carry (a function, a cyclic object, a BigInt, a symbol): a RequestValidationError as payload, a ResultEncodeError as result",
    () =>
      withPool((pool) =>
        Effect.gen(function* () {
          const before = yield* readyPids(pool)
          const cyclic: Record<string, unknown> = { a: 1 }
          cyclic.self = cyclic
          const payloads: ReadonlyArray<unknown> = [
            () => 1,
            cyclic,
            10n,
            Symbol("x"),
            { nested: { fn: () => 1 } },
            [1, 2, 3n]
          ]
          const sent = yield* Effect.forEach(payloads, (payload) => Effect.exit(pool.apply(T.Anything, payload)))
          expect(sent.map(tagOf)).toEqual(payloads.map(() => "RequestValidationError"))
          const kinds = ["cyclic", "function", "bigint", "symbol"] as const
          const returned = yield* Effect.forEach(
            Array.from({ length: 100 }, (_, i) => kinds[i % kinds.length]!),
            (kind) => Effect.exit(pool.apply(T.Unserializable, kind)),
            { concurrency: 16 }
          )
          expect(count(returned.map(tagOf))).toEqual({ ResultEncodeError: 100 })
          expect((yield* pool.stats).restarts).toBe(0)
          expect(yield* readyPids(pool)).toEqual(before)
          yield* healthy(pool)
        })
      )
  )

  it.live(
    "a child that sends messages that are not frames (process.send of an object, a string, a number, null): its worker is stopped and replaced; every call settles; the pool heals",
    () =>
      withPool(
        (pool) =>
          Effect.gen(function* () {
            yield* readyPids(pool)
            const kinds = ["object", "string", "number", "null"] as const
            const started = Date.now()
            // Garbage from 8 tasks among 400 ordinary ones (which may be retried if their worker is stopped).
            const exits = yield* Effect.forEach(
              Array.from({ length: 408 }, (_, i) => i),
              (i) =>
                Effect.exit(
                  i % 51 === 0
                    ? pool.apply(T.Garbage, kinds[(i / 51) % 4]!, { timeout: "5 seconds" })
                    : pool.apply(T.Work, { n: i, ms: 1 }, { timeout: "5 seconds", retries: 3 })
                ).pipe(Effect.map((exit) => [i % 51 === 0 ? "garbage" : "work", tagOf(exit)] as const)),
              { concurrency: 32 }
            )
            const elapsedMs = Date.now() - started
            const garbage = count(exits.filter(([kind]) => kind === "garbage").map(([, tag]) => tag))
            const stats = yield* pool.stats
            report("garbage frames (process.send)", { outcomes: garbage, restarts: stats.restarts, elapsedMs })
            // Whether the task's own reply arrives before its worker is stopped is a race: either is a settled call.
            for (const tag of Object.keys(garbage)) expect(["ok", "WorkerCrashed"]).toContain(tag)
            expect(count(exits.filter(([kind]) => kind === "work").map(([, tag]) => tag))).toEqual({ ok: 400 })
            // Every worker that sent garbage was stopped (and counted as a failure).
            expect(stats.restarts).toBeGreaterThanOrEqual(1)
            expect(yield* readyPids(pool)).toHaveLength(4)
            yield* healthy(pool)
          }),
        { killTimeout: "500 millis" }
      ),
    60_000
  )

  it.live(
    "a child that never replies (waiting forever, or spinning) is bounded by the task timeout; the others succeed; the pool heals",
    () =>
      withPool((pool) =>
        Effect.gen(function* () {
          yield* readyPids(pool)
          const timeoutMs = 500
          const results = yield* Effect.forEach(
            Array.from({ length: 212 }, (_, i) => i),
            (i) => {
              const started = performance.now()
              const kind = i % 53 === 0 ? "spin" : i % 53 === 1 || i % 53 === 2 ? "silent" : "work"
              const call =
                kind === "spin"
                  ? pool.apply(T.Spin, i, { timeout: timeoutMs })
                  : kind === "silent"
                    ? pool.apply(T.Silent, i, { timeout: timeoutMs })
                    : pool.apply(T.Work, { n: i, ms: 1 }, { timeout: "10 seconds", retries: 2 })
              return Effect.exit(call).pipe(
                Effect.map((exit) => ({ kind, tag: tagOf(exit), ms: performance.now() - started }))
              )
            },
            { concurrency: 16 }
          )
          const stuck = results.filter((r) => r.kind !== "work")
          const maxStuckMs = Math.max(...stuck.map((r) => r.ms))
          report("never replies", {
            stuck: stuck.length,
            timeoutMs,
            maxStuckCallMs: Math.round(maxStuckMs),
            restarts: (yield* pool.stats).restarts
          })
          expect(count(stuck.map((r) => r.tag))).toEqual({ TaskTimeout: 12 })
          expect(count(results.filter((r) => r.kind === "work").map((r) => r.tag))).toEqual({ ok: 200 })
          // From the call: the queue wait behind other tasks, the deadline, and a loaded machine's slack.
          expect(maxStuckMs).toBeLessThan(timeoutMs + 2000)
          expect(yield* readyPids(pool)).toHaveLength(4)
          yield* healthy(pool)
        })
      ),
    60_000
  )

  it.live(
    "S47 10 MiB of bytes and a 16 MiB string, each echoed 10 times, come back intact; the parent's memory returns",
    () =>
      withPool(
        (pool) =>
          Effect.gen(function* () {
            yield* readyPids(pool)
            yield* pool.apply(T.EchoString, "warm")
            const heapBefore = yield* settledHeap
            const rssBefore = process.memoryUsage().rss
            const externalBefore = process.memoryUsage().arrayBuffers
            // The payloads live only inside this effect, so they can be collected before the memory is measured.
            const rounds = yield* Effect.gen(function* () {
              const times: Array<number> = []
              for (let round = 0; round < 10; round++) {
                const bytes = new Uint8Array(randomBytes(10 * 1024 * 1024))
                const expected = createHash("sha256").update(bytes).digest("hex")
                const started = performance.now()
                const echoed = yield* pool.apply(T.EchoBytes, bytes)
                times.push(performance.now() - started)
                expect(echoed.sha256).toBe(expected)
                expect(createHash("sha256").update(echoed.data).digest("hex")).toBe(expected)
              }
              const text = `${"x".repeat(16 * 1024 * 1024 - 10)}0123456789`
              const expectedText = createHash("sha256").update(text).digest("hex")
              for (let round = 0; round < 10; round++) {
                const started = performance.now()
                const echoed = yield* pool.apply(T.EchoString, text)
                times.push(performance.now() - started)
                expect(echoed.sha256).toBe(expectedText)
                expect(echoed.data === text).toBe(true)
              }
              return times
            })
            const heapAfter = yield* settledHeap
            const rssAfter = process.memoryUsage().rss
            const externalAfter = process.memoryUsage().arrayBuffers
            report("large payloads (S47)", {
              roundTrips: rounds.length,
              bytesMaxMs: Math.round(Math.max(...rounds.slice(0, 10))),
              stringMaxMs: Math.round(Math.max(...rounds.slice(10))),
              heapBeforeMb: mb(heapBefore),
              heapAfterMb: mb(heapAfter),
              arrayBuffersBeforeMb: mb(externalBefore),
              arrayBuffersAfterMb: mb(externalAfter),
              rssBeforeMb: mb(rssBefore),
              rssAfterMb: mb(rssAfter)
            })
            // A hang bound, not a speed claim (figures in docs/reliability.md).
            expect(Math.max(...rounds)).toBeLessThan(10_000)
            // S47's bound, on what the parent holds: the JS heap and the buffers outside it, after a full GC.
            expect(heapAfter + externalAfter - (heapBefore + externalBefore)).toBeLessThan(50 * 1024 * 1024)
            expect((yield* pool.stats).restarts).toBe(0)
          }),
        { size: 1, tasks: [T.EchoBytes, T.EchoString] }
      ),
    120_000
  )
  for (const kind of ["raw", "truncated"] as const) {
    it(`a ${kind} non-JSON frame written on a child's IPC channel fails its task typed; the parent survives; the pool heals`, () => {
      const file = fileURLToPath(new URL("./fixtures/frameParent.ts", import.meta.url))
      const run = spawnSync(process.execPath, [file, kind], { encoding: "utf8", timeout: 60_000 })
      expect(run.stderr).not.toContain("SyntaxError")
      expect(run.status).toBe(0)
      const outcome = JSON.parse(run.stdout.trim().split("\n").at(-1)!)
      expect(outcome.tag).toBe("WorkerCrashed")
      expect(outcome.after).toBe(20)
      report(`${kind} IPC bytes from a child`, outcome)
    }, 90_000)
  }

  it.live(
    "a payload over maxPayloadBytes is refused in the caller with PayloadTooLarge; a reply over it too, in the child; the pool stays healthy",
    () =>
      withPool(
        (pool) =>
          Effect.gen(function* () {
            const big = yield* Effect.exit(pool.apply(T.EchoString, "x".repeat(2 * 1024 * 1024)))
            expect(Exit.findErrorOption(big)).toMatchObject({
              value: {
                _tag: "PayloadTooLarge",
                task: "reliability/EchoString",
                direction: "payload",
                limit: 1024 * 1024
              }
            })
            // A few bytes in, 2 MB out: the reply is over the limit, and the child replaces it.
            const reply = yield* Effect.exit(pool.apply(T.Inflate, 2 * 1024 * 1024))
            expect(Exit.findErrorOption(reply)).toMatchObject({
              value: { _tag: "PayloadTooLarge", task: "reliability/Inflate", direction: "reply", limit: 1024 * 1024 }
            })
            expect((yield* pool.apply(T.EchoString, "small")).data).toBe("small")
            expect((yield* pool.stats).restarts).toBe(0)
            yield* healthy(pool)
          }),
        { size: 2, tasks: [T.EchoString, T.Inflate, T.Work], maxPayloadBytes: 1024 * 1024 }
      ),
    60_000
  )
})
