/**
 * The Promise API (`PromisePool`) on real workers: results and typed
 * rejections, a real crash, bad options, and `close` reaping every worker.
 */

import { getEventListeners } from "node:events"
import { Pool } from "@troupe/core"
import { RemoteDefect } from "@troupe/core/TroupeError"
import { PromisePool } from "@troupe/node"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as B from "./fixtures/boundary.ts"
import { survivorsAfter } from "./fixtures/os.ts"
import { backends, range, tempFile } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"

const tasks = [T.Square, T.FailAt, T.CrashAt]

/** Waits for `condition` (checked every 20 ms); a minute without it fails the test (a hang bound, not a speed bound). */
const until = async (condition: () => boolean): Promise<void> => {
  const deadline = Date.now() + 60_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("the condition did not hold within a minute")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe.each(backends)("PromisePool on %s", (backend) => {
  it("run and map resolve with the results; 2,000 calls at once each get their own", async () => {
    const pool = await PromisePool.make({ backend, size: 2, tasks })
    try {
      expect(await pool.run(T.Square, 7)).toBe(49)
      expect(await pool.map(T.Square, range(100), { chunkSize: 3 })).toEqual(range(100).map((i) => i * i))
      const many = await Promise.all(range(2000).map((i) => pool.run(T.Square, i)))
      expect(many).toEqual(range(2000).map((i) => i * i))
    } finally {
      await pool.close()
    }
  })

  it("offer rejects with QueueFull when the queue is full, where run waits; a waiting offer gets in; nothing is dropped", async () => {
    const pool = await PromisePool.make({ backend, size: 1, queueSize: 4, prefetch: 0, tasks: [T.Delay, T.Square] })
    try {
      // The one worker holds a long run until it is aborted: the queue behind it stays full.
      const hold = new AbortController()
      const held = pool.run(T.Delay, { value: -1, ms: 600_000 }, { signal: hold.signal }).then(
        () => "finished",
        (error: unknown) => error
      )
      const queued = range(4).map((i) => pool.run(T.Delay, { value: i, ms: 0 }))
      let stats = await pool.stats()
      const deadline = Date.now() + 60_000
      while (stats.queued < 4 || stats.inFlight < 1) {
        if (Date.now() > deadline) throw new Error(`the queue did not fill: ${JSON.stringify(stats)}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
        stats = await pool.stats()
      }
      const full = await pool.offer(T.Square, 2).then(
        () => undefined,
        (error: unknown) => error
      )
      expect(full).toMatchObject({ _tag: "QueueFull" })
      const waiting = pool.offer(T.Square, 3, { wait: "1 minute" })
      hold.abort(new Error("released"))
      expect(await held).toMatchObject({ message: "released" })
      expect(await Promise.all(queued)).toEqual(range(4))
      expect(await waiting).toBe(9)
    } finally {
      await pool.close()
    }
  })

  it("a task's failure rejects with its typed error; a crashed worker's task rejects with WorkerCrashed", async () => {
    const pool = await PromisePool.make({ backend, size: 2, tasks })
    try {
      const failed = await pool.run(T.FailAt, { i: 3, failAt: 3, ms: 0, ticks: tempFile("ticks") }).then(
        () => undefined,
        (error: unknown) => error
      )
      expect(failed).toBeInstanceOf(T.Boom)
      expect(failed).toMatchObject({ _tag: "Boom", i: 3 })
      const crashed = await pool.run(T.CrashAt, { i: 1, crashAt: 1, ms: 0, mode: "exit" }).then(
        () => undefined,
        (error: unknown) => error
      )
      expect(crashed).toBeInstanceOf(Error)
      expect(crashed).toMatchObject({ _tag: "WorkerCrashed" })
      // The pool replaces the worker and keeps serving.
      expect(await pool.run(T.Square, 9)).toBe(81)
    } finally {
      await pool.close()
    }
  })

  it("a task that throws a Node system error rejects with a RemoteDefect whose fields are also its own properties: err.code, as a piscina user reads it", async () => {
    const pool = await PromisePool.make({ backend, size: 1, tasks: [B.Fields] })
    try {
      const path = tempFile("missing")
      const enoent = { code: "ENOENT", errno: -2, syscall: "open", path }
      const rejected = (kind: B.FieldsKind) =>
        pool.run(B.Fields, { kind, path }).then(
          () => undefined,
          (error: unknown) => error as RemoteDefect & Record<string, unknown>
        )
      const error = await rejected("readFileSync")
      expect(error).toBeInstanceOf(RemoteDefect)
      expect(error).toMatchObject({ _tag: "RemoteDefect", fields: enoent, ...enoent })
      expect(await rejected("readFile")).toMatchObject({ _tag: "RemoteDefect", ...enoent })
      // A field named as one of the error's own (`name`, `task`) keeps the error's; the cause gets its fields too.
      const wrapped = await rejected("withCause")
      expect(wrapped).toMatchObject({ message: "could not read the settings", task: "boundary/Fields" })
      expect(wrapped!.cause).toMatchObject({ ...enoent, fields: enoent })
      expect(await rejected("plainObject")).toMatchObject({ name: "NonErrorThrown", code: "E_PLAIN" })
    } finally {
      await pool.close()
    }
  })

  it("what an untyped caller may pass: a bad payload, something not a task, items not iterable, null options; the pool serves on", async () => {
    const pool = await PromisePool.make({ backend, size: 2, tasks })
    const rejection = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: unknown) => error
      )
    try {
      expect(await rejection(pool.run(T.Square, "7" as never))).toMatchObject({ _tag: "RequestValidationError" })
      const notATask = await rejection(pool.run({} as never, 7 as never))
      expect(notATask).toBeInstanceOf(TypeError)
      expect(String(notATask)).toContain("expects a task made by Task.make")
      expect(await rejection(pool.run(5 as never, 7 as never))).toBeInstanceOf(TypeError)
      expect(await rejection(pool.map({} as never, [1, 2] as never))).toBeInstanceOf(TypeError)
      // `Array.from(5)` is `[]`: a map over a number must not resolve with no results.
      const notIterable = await rejection(pool.map(T.Square, 5 as never))
      expect(notIterable).toMatchObject({ _tag: "InputError", task: T.Square.name })
      expect(String((notIterable as Error).message)).toContain("not iterable")
      expect(await rejection(pool.map(T.Square, { length: 2 } as never))).toMatchObject({ _tag: "InputError" })
      expect(await pool.map(T.Square, new Set([2, 3]))).toEqual([4, 9])
      // `null` options, as JavaScript callers write "none".
      expect(await pool.run(T.Square, 4, null as never)).toBe(16)
      expect(await pool.map(T.Square, [2, 3], null as never)).toEqual([4, 9])
      expect(await pool.run(T.Square, 9)).toBe(81)
      expect((await pool.stats()).failed).toEqual({})
    } finally {
      await pool.close()
    }
  })

  it("a payload goes as it was at the call, a reply as it was when its handler returned", async () => {
    // One worker: the calls of a tick go out in one message, and its replies are held and sent together.
    const pool = await PromisePool.make({ backend, size: 1, tasks: [T.Echo, T.Tally] })
    try {
      const payload = { i: 0, nested: { tags: ["t0"] } }
      const echoes: Array<Promise<unknown>> = []
      for (const i of range(50)) {
        payload.i = i
        payload.nested.tags[0] = `t${i}`
        echoes.push(pool.run(T.Echo, payload))
      }
      expect(await Promise.all(echoes)).toEqual(range(50).map((i) => ({ i, nested: { tags: [`t${i}`] } })))
      const tallies = await Promise.all(range(50).map((n) => pool.run(T.Tally, { n, tag: `t${n}` })))
      expect(tallies).toEqual(range(50).map((n) => ({ n, tags: [`t${n}`] })))
    } finally {
      await pool.close()
    }
  })

  it("signal: an aborted call rejects with the reason; a queued task never starts, a running one is interrupted; the pool serves on", async () => {
    const pool = await PromisePool.make({ backend, size: 1, tasks: [T.Heartbeat, T.Delay, T.Square] })
    try {
      // Aborted before the call: rejects at once, submits nothing.
      const early = new Error("gave up before")
      await expect(pool.run(T.Square, 2, { signal: AbortSignal.abort(early) })).rejects.toBe(early)

      // One running, one queued behind it (the pool's only worker is busy).
      const beats = tempFile("beats")
      const interrupted = tempFile("interrupted")
      const queuedStarts = tempFile("queued")
      const running = new AbortController()
      const queued = new AbortController()
      const first = pool.run(T.Heartbeat, { beats, interrupted }, { signal: running.signal })
      const second = pool.run(T.Delay, { value: 1, ms: 0, ticks: queuedStarts }, { signal: queued.signal })
      await until(() => T.countTicks(beats) > 0)
      queued.abort("queued: gave up")
      await expect(second).rejects.toBe("queued: gave up")
      running.abort("running: gave up")
      await expect(first).rejects.toBe("running: gave up")
      // The rejection comes once the worker has let go: the task's finalizer has run, the queued task never started.
      expect(T.countTicks(interrupted)).toBe(1)
      expect(T.countTicks(queuedStarts)).toBe(0)

      // An abort after the call settled changes nothing.
      const late = new AbortController()
      expect(await pool.run(T.Square, 3, { signal: late.signal })).toBe(9)
      late.abort()

      // map: every item not done is cancelled.
      const mapStarts = tempFile("map")
      const mapping = new AbortController()
      const mapped = pool.map(
        T.Delay,
        range(4).map((value) => ({ value, ms: 60_000, ticks: mapStarts })),
        { signal: mapping.signal }
      )
      await until(() => T.countTicks(mapStarts) > 0)
      const reason = new Error("map: gave up")
      mapping.abort(reason)
      await expect(mapped).rejects.toBe(reason)
      // Items already on the worker were interrupted there (each sleeps a minute): the one worker is free at once,
      // and no item starts later.
      const startedBeforeRejection = T.countTicks(mapStarts)
      expect(await pool.run(T.Square, 4)).toBe(16)
      expect(T.countTicks(mapStarts)).toBe(startedBeforeRejection)
    } finally {
      await pool.close()
    }
  })

  it("signal: one abort cancels 40 calls at once, one running and the rest held by its worker: none of the others starts", async () => {
    const pool = await PromisePool.make({ backend, size: 1, tasks: [T.Delay, T.Square] })
    try {
      // Five rounds: which side of the race a held call fell on varied from run to run.
      for (let round = 0; round < 5; round++) {
        const ticks = tempFile("ticks")
        const controller = new AbortController()
        // 40 calls in one tick: the queue is deep, so the one worker holds the first 33 (its prefetch) and runs one.
        const calls = range(40).map((value) =>
          pool.run(T.Delay, { value, ms: 60_000, ticks }, { signal: controller.signal }).catch((error) => error)
        )
        await until(() => T.countTicks(ticks) > 0)
        controller.abort("gave up")
        expect(await Promise.all(calls)).toEqual(range(40).map(() => "gave up"))
        // The worker runs this after whatever it held: a held call that would start has started by then.
        expect(await pool.run(T.Square, 4)).toBe(16)
        expect(T.countTicks(ticks)).toBe(1)
      }
    } finally {
      await pool.close()
    }
  })

  it("a signal that is not an AbortSignal rejects with InvalidOption and submits nothing; null is no signal", async () => {
    const pool = await PromisePool.make({ backend, size: 1, tasks })
    try {
      for (const signal of ["nope", {}, { aborted: false }, 5]) {
        const call = { signal } as never
        for (const rejected of [pool.run(T.Square, 3, call), pool.map(T.Square, [1, 2], call)]) {
          expect(await rejected.catch((error: unknown) => error)).toMatchObject({
            _tag: "InvalidOption",
            option: "signal"
          })
        }
      }
      expect((await pool.stats()).submitted).toBe(0)
      expect(await pool.run(T.Square, 3, { signal: null })).toBe(9)
      expect(await pool.map(T.Square, [1, 2], { signal: null })).toEqual([1, 4])
    } finally {
      await pool.close()
    }
  })

  it("a settled call leaves no listener on its signal, also one refused or settled at once (an empty map)", async () => {
    const pool = await PromisePool.make({ backend, size: 1, tasks })
    const controller = new AbortController()
    const signal = controller.signal
    try {
      for (let i = 0; i < 20; i++) {
        expect(await pool.map(T.Square, [], { signal })).toEqual([])
        await expect(pool.map(T.Square, ["bad" as never], { signal })).rejects.toMatchObject({
          _tag: "RequestValidationError"
        })
        await expect(pool.run(T.Square, "bad" as never, { signal })).rejects.toMatchObject({
          _tag: "RequestValidationError"
        })
        expect(await pool.run(T.Square, i, { signal })).toBe(i * i)
        expect(await pool.map(T.Square, [i], { signal })).toEqual([i * i])
      }
      // Each listener held its call (a map's fiber and items) for as long as the signal lived.
      expect(getEventListeners(signal, "abort")).toHaveLength(0)
    } finally {
      await pool.close()
    }
  })

  it("Pool.runCallback's cancel, on the pool and on a Service not made by Pool.make (a fiber per call)", async () => {
    const pool = await PromisePool.make({ backend, size: 1, tasks: [T.Heartbeat, T.Square] })
    try {
      const handMade: Pool.Service = { ...pool.pool }
      for (const service of [pool.pool, handMade]) {
        const beats = tempFile("beats")
        const interrupted = tempFile("interrupted")
        const exits: Array<unknown> = []
        const cancel = Pool.runCallback(service, T.Heartbeat, { beats, interrupted }, (exit) => exits.push(exit))
        expect(cancel).toBeTypeOf("function")
        await until(() => T.countTicks(beats) > 0)
        await Effect.runPromise(cancel!())
        // Once the cancel has ended, the task's finalizer has run in its worker, and its exit is never reported.
        expect(T.countTicks(interrupted)).toBe(1)
        expect(await pool.run(T.Square, 5)).toBe(25)
        expect(exits).toEqual([])
      }
    } finally {
      await pool.close()
    }
  })

  it("bad options reject with a typed error and start nothing", async () => {
    const error = await PromisePool.make({ backend, size: 0 }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toMatchObject({ _tag: "InvalidOption" })
  })

  it("close stops every worker; later calls reject with PoolShuttingDown; close again is the same Promise", async () => {
    const pool = await PromisePool.make({ backend, size: 2, tasks })
    expect(await pool.run(T.Square, 2)).toBe(4)
    const pids = (await pool.stats()).workers.map((worker) => worker.pid)
    const closing = pool.close()
    expect(pool.close()).toBe(closing)
    await closing
    if (backend === "process") {
      expect(pids).toHaveLength(2)
      expect(await survivorsAfter(pids, 5000)).toEqual([])
    }
    const refused = await pool.run(T.Square, 3).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(refused).toMatchObject({ _tag: "PoolShuttingDown" })
    // Underneath, a refused call settles at once, before runCallback returns.
    let seen: unknown
    Pool.runCallback(pool.pool, T.Square, 3, (exit) => {
      seen = exit
    })
    expect(seen).toMatchObject({ _tag: "Failure" })
  })

  it("await using closes the pool when its block is left, by a return or a throw: its workers are gone", async () => {
    const used = async (fail: boolean) => {
      await using pool = await PromisePool.make({ backend, size: 2, tasks })
      expect(await pool.run(T.Square, 3)).toBe(9)
      const pids = (await pool.stats()).workers.map((worker) => worker.pid)
      if (fail) throw Object.assign(new Error("left by a throw"), { pool, pids })
      return { pool, pids }
    }
    const returned = await used(false)
    const thrown = await used(true).then(
      () => undefined,
      (error: { pool: PromisePool.PromisePool; pids: Array<number> }) => error
    )
    for (const left of [returned, thrown!]) {
      expect(await left.pool.run(T.Square, 3).catch((e: unknown) => e)).toMatchObject({ _tag: "PoolShuttingDown" })
      if (backend === "process") {
        expect(left.pids).toHaveLength(2)
        expect(await survivorsAfter(left.pids, 5000)).toEqual([])
      }
    }
  })
})
