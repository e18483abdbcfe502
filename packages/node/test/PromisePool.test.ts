/**
 * The Promise API (`PromisePool`) on real workers: results and typed
 * rejections, a real crash, bad options, and `close` reaping every worker.
 */

import { Pool } from "@troupe/core"
import { PromisePool } from "@troupe/node"
import { describe, expect, it } from "vitest"
import { survivorsAfter } from "./fixtures/os.ts"
import { backends, range, tempFile } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"

const tasks = [T.Square, T.FailAt, T.CrashAt]

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
})
