/**
 * The serialization contract on real processes and threads: a value that a
 * process would receive changed (a `Map`, a `Date` or NaN under
 * `Schema.Any`, `undefined` in an array...) is an `ArgumentEncodeError` at
 * the call on both backends, and a reply that breaks it is a
 * `ResultEncodeError`; `SharedMemory` values are shared or moved on threads
 * and refused, with why, on processes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Process, SharedMemory, Supervisor } from "@troupe/core"
import { Cause, Effect, Exit } from "effect"
import * as NodePool from "../src/NodePool.ts"
import { backends, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/serial.ts"

describe.each(backends)("the serialization contract on %s", (backend) => {
  const transport = NodePool.transport(backend)

  it.live("a value a process would receive changed is an ArgumentEncodeError at the call, saying what and where", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [new Map([["a", 1]]), "payload.value: a Map is not plain JSON data"],
        [{ at: [new Date(0)] }, "payload.value.at[0]: a Date is not plain JSON data"],
        [[1, undefined], "payload.value[1]: undefined is not JSON data"],
        [{ ratio: Number.NaN }, "payload.value.ratio: NaN is not a JSON number"],
        [SharedMemory.allocate(Int32Array, 1), "payload.value: an Int32Array over a SharedArrayBuffer"]
      ]
      for (const [value, message] of cases) {
        const error = yield* Effect.flip(Process.run(T.EchoAny, { value }))
        expect(error._tag).toBe("ArgumentEncodeError")
        expect(error.message).toContain(message)
      }
      // Plain JSON data still goes through Schema.Any.
      expect(yield* Process.run(T.EchoAny, { value: { a: [1, "b", null] } })).toEqual({ a: [1, "b", null] })
    }).pipe(Effect.provide(transport))
  )

  it.live("a pool refuses the same values per call, and serves the calls beside them", () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(pool.apply(T.EchoAny, { value: new Set([1]) }))
        expect(error._tag).toBe("ArgumentEncodeError")
        expect((error as { message: string }).message).toContain("payload.value: a Set")
        expect(yield* pool.apply(T.EchoAny, { value: 1 })).toBe(1)
      })
    )
  )

  it.live(
    "a payload under Schema.Any that throws as it is read (a getter, a Proxy, a revoked Proxy) is an ArgumentEncodeError at the call; the calls beside it and the worker serve on",
    () =>
      withPool(backend, { size: 1, concurrency: 4 }, (pool) =>
        Effect.gen(function* () {
          const revoked = Proxy.revocable({}, {})
          revoked.revoke()
          const hostile: ReadonlyArray<readonly [unknown, string]> = [
            [
              Object.defineProperty({}, "boom", {
                enumerable: true,
                get() {
                  throw new Error("getter boom")
                }
              }),
              "getter boom"
            ],
            [
              new Proxy(
                {},
                {
                  ownKeys() {
                    throw new Error("ownKeys boom")
                  }
                }
              ),
              "ownKeys boom"
            ],
            [revoked.proxy, "revoked"]
          ]
          for (const [value, message] of hostile) {
            const [refused, beside] = yield* Effect.all(
              [Effect.exit(pool.apply(T.EchoAny, { value: { nested: value } })), pool.apply(T.EchoAny, { value: 1 })],
              { concurrency: "unbounded" }
            )
            expect(refused._tag).toBe("Failure")
            const error = Exit.isFailure(refused) ? Cause.findErrorOption(refused.cause) : undefined
            expect(error?._tag).toBe("Some")
            const typed = (error as { value: { _tag: string; message: string } }).value
            expect(typed._tag).toBe("ArgumentEncodeError")
            expect(typed.message).toContain("payload could not be read")
            expect(typed.message).toContain(message)
            expect(beside).toBe(1)
          }
          const stats = yield* pool.stats
          expect({ restarts: stats.restarts, workerStarts: stats.workerStarts }).toEqual({
            restarts: 0,
            workerStarts: 1
          })
        })
      )
  )

  it.live(
    "a required Schema.Any field set to undefined, which a process would receive as a missing key, is refused at the call or in the child, the same on both backends",
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const payload = yield* Effect.flip(pool.apply(T.EchoAny, { value: undefined }))
          expect(payload._tag).toBe("ArgumentEncodeError")
          expect((payload as { message: string }).message).toMatch(
            /^payload: a field set to undefined .*Missing key[\s\S]*\["value"\]/
          )
          const result = yield* Effect.flip(pool.apply(T.ReplyUndefinedField, undefined))
          expect(result._tag).toBe("ResultEncodeError")
          expect((result as { message: string }).message).toMatch(
            /result: a field set to undefined .*Missing key[\s\S]*\["x"\]/
          )
          const error = yield* Effect.flip(pool.apply(T.FailUndefinedField, undefined))
          expect(error._tag).toBe("ResultEncodeError")
          expect((error as { message: string }).message).toMatch(
            /error: a field set to undefined .*Missing key[\s\S]*\["detail"\]/
          )
          // Inside the Any, a field set to undefined is no field to the Schema: it still goes, as no field.
          expect(yield* pool.apply(T.EchoAny, { value: { a: undefined, b: 1 } })).toEqual({ b: 1 })
          const stats = yield* pool.stats
          expect({ restarts: stats.restarts, workerStarts: stats.workerStarts }).toEqual({
            restarts: 0,
            workerStarts: 1
          })
        })
      )
  )

  it.live("a message to an actor is checked the same way, and the actor serves the next one", () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start({}, [Supervisor.worker("echo", T.EchoBehaviour)])
      const echo = sup.ref("echo", T.Echo)
      const error = yield* Effect.flip(echo.ask("Echo", { value: { at: new Date(0) } }))
      expect(error._tag).toBe("ArgumentEncodeError")
      expect((error as { message: string }).message).toContain("payload.value.at: a Date is not plain JSON data")
      expect(yield* echo.ask("Echo", { value: [1, "two"] })).toEqual([1, "two"])
    }).pipe(Effect.scoped, Effect.provide(transport))
  )

  it.live(
    "a value nested deeper than the contract's bound fails its own call, either way; the worker serves on, unrestarted",
    () =>
      withPool(backend, { size: 1, concurrency: 2 }, (pool) =>
        Effect.gen(function* () {
          // 4,000 levels: a worker thread could post it, and its parent could not read it and stopped the worker.
          const [deep, beside] = yield* Effect.all(
            [pool.apply(T.Nested, 4000).pipe(Effect.flip), pool.apply(T.Nested, 3)],
            {
              concurrency: "unbounded"
            }
          )
          expect(deep._tag).toBe("ResultEncodeError")
          expect((deep as { message: string }).message).toContain("result: nested more than 1000 levels deep")
          expect(beside).toEqual([[[]]])
          const nested = JSON.parse(`${"[".repeat(4000)}${"]".repeat(4000)}`) as unknown
          const refused = yield* Effect.flip(pool.apply(T.EchoAny, { value: nested }))
          expect(refused._tag).toBe("ArgumentEncodeError")
          expect(yield* pool.apply(T.Nested, 1000)).toBeDefined()
          const stats = yield* pool.stats
          expect({ restarts: stats.restarts, workerStarts: stats.workerStarts }).toEqual({
            restarts: 0,
            workerStarts: 1
          })
        })
      )
  )

  it.live("a reply that breaks the contract is a ResultEncodeError that says where", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Process.run(T.ReplyMap, undefined))
      expect(error._tag).toBe("ResultEncodeError")
      expect((error as { message: string }).message).toContain("result.counts: a Map is not plain JSON data")
    }).pipe(Effect.provide(transport))
  )
})

describe("shared memory on threads", () => {
  const threads = NodePool.transport("thread")

  it.live(
    "a SharedMemory array is shared, not copied: the thread's Atomics.add is seen by the parent; a pool moves buffers",
    () =>
      withPool("thread", { size: 2 }, (pool) =>
        Effect.gen(function* () {
          const total = SharedMemory.allocate(Int32Array, 1)
          const seen = yield* Effect.forEach(
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            (amount) => pool.apply(T.AddShared, { total, amount }),
            { concurrency: "unbounded" }
          )
          expect(total[0]).toBe(55)
          expect(Math.max(...seen)).toBe(55)
          // A pool moves a Transferred buffer too (its runs go out in batches).
          const buffers = [1, 2, 3].map((n) => new Uint8Array(n * 1000).fill(n).buffer)
          const sums = yield* Effect.forEach(buffers, (buffer) => pool.apply(T.SumBytes, buffer), {
            concurrency: "unbounded"
          })
          expect(sums).toEqual([1, 2, 3].map((n) => ({ sum: n * n * 1000, length: n * 1000 })))
          expect(buffers.map((buffer) => buffer.byteLength)).toEqual([0, 0, 0])
        })
      )
  )

  it.live("a thread can reply with a shared array", () =>
    Effect.gen(function* () {
      const view = yield* Process.run(T.NewShared, 42)
      expect(view.buffer).toBeInstanceOf(SharedArrayBuffer)
      expect(view[0]).toBe(42)
    }).pipe(Effect.provide(threads))
  )

  it.live("a Transferred buffer is moved to the thread: the caller's is detached, the thread has the bytes", () =>
    Effect.gen(function* () {
      const buffer = new Uint8Array(1 << 20).fill(1).buffer
      expect(yield* Process.run(T.SumBytes, buffer)).toEqual({ sum: 1 << 20, length: 1 << 20 })
      expect(buffer.byteLength).toBe(0)
      const back = yield* Process.run(T.MakeBytes, 1000)
      expect(back.byteLength).toBe(1000)
      expect(new Uint8Array(back).every((byte) => byte === 7)).toBe(true)
    }).pipe(Effect.provide(threads))
  )
})

describe("shared memory on processes is refused with why", () => {
  const processes = NodePool.transport("process")
  const why = "only a worker thread shares memory with its parent; a process would receive {}"

  it.live("a shared array in a payload is an ArgumentEncodeError, and no child is started", () =>
    Effect.gen(function* () {
      const total = SharedMemory.allocate(Int32Array, 1)
      const error = yield* Effect.flip(Process.start(T.AddShared, { total, amount: 1 }))
      expect(error._tag).toBe("ArgumentEncodeError")
      expect((error as { message: string }).message).toContain(`payload.total: shared memory`)
      expect((error as { message: string }).message).toContain(why)
      expect(total[0]).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(processes))
  )

  it.live("so are a pool call with one and a transferred buffer, which stays with the caller", () =>
    withPool("process", { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const total = SharedMemory.allocate(Int32Array, 1)
        const shared = yield* Effect.flip(pool.apply(T.AddShared, { total, amount: 1 }))
        expect((shared as { message: string }).message).toContain(why)
        const buffer = new ArrayBuffer(8)
        const moved = yield* Effect.flip(pool.apply(T.SumBytes, buffer))
        expect(moved._tag).toBe("ArgumentEncodeError")
        expect((moved as { message: string }).message).toContain(`payload: a transferred ArrayBuffer: ${why}`)
        expect(buffer.byteLength).toBe(8)
      })
    )
  )

  it.live("a process that replies with a shared array or a moved buffer gets a ResultEncodeError", () =>
    Effect.gen(function* () {
      const shared = yield* Effect.flip(Process.run(T.NewShared, 1))
      expect(shared._tag).toBe("ResultEncodeError")
      expect((shared as { message: string }).message).toContain(`result: shared memory`)
      const moved = yield* Effect.flip(Process.run(T.MakeBytes, 8))
      expect(moved._tag).toBe("ResultEncodeError")
      expect((moved as { message: string }).message).toContain("result: a transferred ArrayBuffer")
    }).pipe(Effect.provide(processes))
  )
})
