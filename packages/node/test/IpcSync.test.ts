/**
 * IpcLock, IpcSemaphore and SharedRef on real processes (and threads where a
 * thread can end itself): mutual exclusion and the semaphore's bound as the
 * parent sees them, a killed holder's lock or permits given back (the next
 * holder told the lock was abandoned), a killed waiter granted nothing, and
 * atomic updates from four processes exact. The host's own logic (FIFO,
 * re-entry, typed refusals, interrupted waits) is checked in the host
 * process alone, where calls are local.
 */
import { it } from "@effect/vitest"
import { Channel, IpcLock, IpcSemaphore, Session, SharedRef } from "@troupe/core"
import { Deferred, Effect, Exit, Fiber, Queue, Schema } from "effect"
import { expect } from "vitest"
import {
  AtomicAdd,
  HoldLock,
  HoldPermits,
  LockLoop,
  LockLoopFromGrandchild,
  PermitLoop,
  Probe,
  WaitLock,
  WaitLockAndPermit
} from "./fixtures/ipcSync.ts"
import { backends, eventually, range, withPool } from "./fixtures/pool.ts"

interface Note {
  readonly event: string
  readonly pid: number
}

/** Hosts `Probe`: every note in arrival order, and a queue to wait for the next one. */
const serveProbe = Effect.gen(function* () {
  const notes: Array<Note> = []
  const arrivals = yield* Queue.unbounded<Note>()
  const probe = yield* Channel.serve(Probe, {
    Note: (note) =>
      Effect.sync(() => {
        notes.push(note)
        Queue.offerUnsafe(arrivals, note)
      })
  })
  const next = (event: string) =>
    Queue.take(arrivals).pipe(
      Effect.repeat({ until: (note) => note.event === event }),
      Effect.timeout("60 seconds"),
      Effect.orDie
    )
  return { probe, notes, next }
})

it.live("process: four processes under one lock never overlap, and a plain get/set counter is exact", () =>
  withPool("process", { size: 4 }, (pool) =>
    Effect.gen(function* () {
      const { notes, probe } = yield* serveProbe
      const lock = yield* IpcLock.make()
      const counter = yield* SharedRef.make(Schema.Int, 0)
      const times = 100
      // Four workers up, so that each of the four loops has its own (one still starting would leave its loop to
      // the first worker free, and three processes to take the lock).
      yield* pool.ready
      const abandoned = yield* Effect.forEach(range(4), () => pool.apply(LockLoop, { lock, counter, probe, times }), {
        concurrency: "unbounded"
      })
      expect(abandoned).toEqual([0, 0, 0, 0])
      expect(yield* SharedRef.get(counter)).toBe(4 * times)
      // As the host saw them: enter and exit alternate, each exit by the process that entered.
      expect(notes).toHaveLength(2 * 4 * times)
      for (let i = 0; i < notes.length; i += 2) {
        expect(notes[i]!.event).toBe("enter")
        expect(notes[i + 1]).toEqual({ event: "exit", pid: notes[i]!.pid })
      }
      expect(new Set(notes.map((note) => note.pid)).size).toBe(4)
    }).pipe(Effect.scoped)
  )
)

it.live("process: a child and a grandchild share the lock and the counter like any two processes", () =>
  withPool("process", { size: 2 }, (pool) =>
    Effect.gen(function* () {
      const { notes, probe } = yield* serveProbe
      const lock = yield* IpcLock.make()
      const counter = yield* SharedRef.make(Schema.Int, 0)
      const payload = { lock, counter, probe, times: 50 }
      yield* Effect.all([pool.apply(LockLoop, payload), pool.apply(LockLoopFromGrandchild, payload)], {
        concurrency: "unbounded"
      })
      expect(yield* SharedRef.get(counter)).toBe(100)
      for (let i = 0; i < notes.length; i += 2) {
        expect(notes[i + 1]).toEqual({ event: "exit", pid: notes[i]!.pid })
      }
      expect(new Set(notes.map((note) => note.pid)).size).toBe(2)
    }).pipe(Effect.scoped)
  )
)

for (const backend of backends) {
  it.live(`${backend}: the holder's death releases the lock and the next holder learns it was abandoned`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const { next, probe } = yield* serveProbe
        const lock = yield* IpcLock.make()
        const run = yield* Effect.forkChild(
          Effect.exit(pool.apply(HoldLock, { lock, probe, exit: backend === "thread" }))
        )
        const held = yield* next("held")
        // A process is killed from outside; a thread ends itself (process.exit in a worker thread).
        if (backend === "process") process.kill(held.pid, "SIGKILL")
        const first = yield* IpcLock.acquire(lock).pipe(Effect.timeout("60 seconds"))
        expect(first.abandoned).toBe(true)
        yield* IpcLock.release(lock, first)
        const second = yield* IpcLock.acquire(lock)
        expect(second.abandoned).toBe(false)
        yield* IpcLock.release(lock, second)
        yield* Fiber.interrupt(run)
      }).pipe(Effect.scoped)
    )
  )

  it.live(`${backend}: a dead process's permits are given back`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const { next, probe } = yield* serveProbe
        const semaphore = yield* IpcSemaphore.make(3)
        const run = yield* Effect.forkChild(
          Effect.exit(pool.apply(HoldPermits, { semaphore, probe, permits: 2, exit: backend === "thread" }))
        )
        const held = yield* next("held")
        expect(yield* IpcSemaphore.available(semaphore)).toBe(1)
        if (backend === "process") process.kill(held.pid, "SIGKILL")
        // All three permits are free again only once the dead process's two are back.
        yield* IpcSemaphore.acquire(semaphore, 3).pipe(Effect.timeout("60 seconds"))
        yield* IpcSemaphore.release(semaphore, 3)
        expect(yield* IpcSemaphore.available(semaphore)).toBe(3)
        yield* Fiber.interrupt(run)
      }).pipe(Effect.scoped)
    )
  )
}

for (const backend of backends) {
  it.live(`${backend}: a killed waiter gets neither the lock nor a permit, however soon the parent frees them`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const { next, notes, probe } = yield* serveProbe
        const lock = yield* IpcLock.make()
        const semaphore = yield* IpcSemaphore.make(1)
        const mine = yield* IpcLock.acquire(lock)
        yield* IpcSemaphore.acquire(semaphore)
        const run = yield* Effect.forkChild(
          Effect.exit(pool.apply(WaitLockAndPermit, { lock, semaphore, probe, exit: backend === "thread" }))
        )
        const waiting = yield* next("waiting")
        if (backend === "process") process.kill(waiting.pid, "SIGKILL")
        expect(Exit.isFailure(yield* Fiber.join(run))).toBe(true)
        // Freed the moment the waiter's task fails, as a caller reacting to the crash would (before: both went to
        // the dead waiter, and the next holder was told the lock was abandoned, although no holder had died).
        yield* IpcLock.release(lock, mine)
        yield* IpcSemaphore.release(semaphore)
        expect(yield* IpcSemaphore.status(semaphore)).toEqual({ available: 1, waiting: 0 })
        expect(yield* IpcLock.status(lock)).toEqual({ locked: false, waiting: 0 })
        expect((yield* IpcLock.acquire(lock)).abandoned).toBe(false)
        expect(notes.map((note) => note.event)).not.toContain("got")
      }).pipe(Effect.scoped)
    )
  )
}

it.live("process: an abandoned lock granted to a caller that gave up reaches the next holder as abandoned", () =>
  withPool("process", { size: 1 }, (pool) =>
    Effect.gen(function* () {
      const { next, probe } = yield* serveProbe
      const lock = yield* IpcLock.make()
      const run = yield* Effect.forkChild(Effect.exit(pool.apply(HoldLock, { lock, probe, exit: false })))
      const held = yield* next("held")
      // The first waiter speaks the wire itself, so that its Cancel comes after the host granted it the lock: what
      // an acquire under a timeout sends when the host's reply is on its way as the timeout fires.
      const session = Session.of(lock.handle)
      const token = "gives-up"
      const first = yield* Effect.forkChild(Channel.call(lock.handle, "Acquire", { session, token }))
      yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 1)
      const second = yield* Effect.forkChild(IpcLock.acquire(lock))
      yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 2)
      process.kill(held.pid, "SIGKILL")
      expect(yield* Fiber.join(first).pipe(Effect.timeout("60 seconds"))).toBe(true)
      yield* Channel.call(lock.handle, "Cancel", { session, token })
      const next2 = yield* Fiber.join(second).pipe(Effect.timeout("60 seconds"))
      expect(next2.abandoned).toBe(true)
      yield* IpcLock.release(lock, next2)
      yield* Fiber.interrupt(run)
    }).pipe(Effect.scoped)
  )
)

it.live("process: a killed waiter is granted nothing; the lock goes free, not abandoned", () =>
  withPool("process", { size: 1 }, (pool) =>
    Effect.gen(function* () {
      const { next, notes, probe } = yield* serveProbe
      const lock = yield* IpcLock.make()
      const mine = yield* IpcLock.acquire(lock)
      const run = yield* Effect.forkChild(Effect.exit(pool.apply(WaitLock, { lock, probe })))
      const waiting = yield* next("waiting")
      const queued = yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 1, 60_000)
      expect(queued).toEqual({ locked: true, waiting: 1 })
      process.kill(waiting.pid, "SIGKILL")
      const gone = yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 0, 60_000)
      expect(gone).toEqual({ locked: true, waiting: 0 })
      yield* IpcLock.release(lock, mine)
      expect(yield* IpcLock.status(lock)).toEqual({ locked: false, waiting: 0 })
      const again = yield* IpcLock.acquire(lock)
      expect(again.abandoned).toBe(false)
      expect(notes.map((note) => note.event)).not.toContain("got")
      yield* Fiber.interrupt(run)
    }).pipe(Effect.scoped)
  )
)

it.live("process: a killed waiter for permits is granted none", () =>
  withPool("process", { size: 1 }, (pool) =>
    Effect.gen(function* () {
      const { next, notes, probe } = yield* serveProbe
      const semaphore = yield* IpcSemaphore.make(2)
      yield* IpcSemaphore.acquire(semaphore, 2)
      const run = yield* Effect.forkChild(
        Effect.exit(pool.apply(HoldPermits, { semaphore, probe, permits: 1, exit: false }))
      )
      const waiting = yield* next("waiting")
      const queued = yield* eventually(
        Effect.orDie(IpcSemaphore.status(semaphore)),
        (status) => status.waiting === 1,
        60_000
      )
      expect(queued).toEqual({ available: 0, waiting: 1 })
      process.kill(waiting.pid, "SIGKILL")
      yield* eventually(Effect.orDie(IpcSemaphore.status(semaphore)), (status) => status.waiting === 0, 60_000)
      yield* IpcSemaphore.release(semaphore, 2)
      // Both permits are free: none went to the dead waiter.
      expect(yield* IpcSemaphore.status(semaphore)).toEqual({ available: 2, waiting: 0 })
      expect(notes.map((note) => note.event)).not.toContain("held")
      yield* Fiber.interrupt(run)
    }).pipe(Effect.scoped)
  )
)

it.live("process: four processes never hold more permits than the semaphore has", () =>
  withPool("process", { size: 4 }, (pool) =>
    Effect.gen(function* () {
      const { notes, probe } = yield* serveProbe
      const semaphore = yield* IpcSemaphore.make(2)
      const times = 50
      yield* Effect.forEach(range(4), () => pool.apply(PermitLoop, { semaphore, probe, times }), {
        concurrency: "unbounded"
      })
      expect(notes).toHaveLength(2 * 4 * times)
      let inside = 0
      let most = 0
      for (const note of notes) {
        inside += note.event === "enter" ? 1 : -1
        most = Math.max(most, inside)
      }
      expect(inside).toBe(0)
      expect(most).toBeLessThanOrEqual(2)
      expect(yield* IpcSemaphore.available(semaphore)).toBe(2)
    }).pipe(Effect.scoped)
  )
)

it.live(
  "process: 4 processes x 1,000 atomic updates of a SharedRef give exactly 4,000",
  () =>
    withPool("process", { size: 4 }, (pool) =>
      Effect.gen(function* () {
        const counter = yield* SharedRef.make(Schema.Int, 0)
        yield* Effect.forEach(range(4), () => pool.apply(AtomicAdd, { counter, times: 1000 }), {
          concurrency: "unbounded"
        })
        expect(yield* SharedRef.get(counter)).toBe(4000)
      }).pipe(Effect.scoped)
    ),
  { timeout: 240_000 }
)

// The host's own logic, with local calls.

it.live("waiters get the lock first come, first served", () =>
  Effect.gen(function* () {
    const lock = yield* IpcLock.make()
    const order: Array<number> = []
    const first = yield* IpcLock.acquire(lock)
    const fibers = yield* Effect.forEach(range(5), (i) =>
      Effect.forkChild(
        IpcLock.withLock(
          lock,
          Effect.sync(() => order.push(i))
        )
      )
    )
    yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 5)
    yield* IpcLock.release(lock, first)
    yield* Fiber.joinAll(fibers)
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(yield* IpcLock.status(lock)).toEqual({ locked: false, waiting: 0 })
  }).pipe(Effect.scoped)
)

it.live("an interrupted wait leaves nothing behind; a release by a non-owner fails typed", () =>
  Effect.gen(function* () {
    const lock = yield* IpcLock.make()
    const mine = yield* IpcLock.acquire(lock)
    const gaveUp = yield* IpcLock.acquire(lock).pipe(Effect.timeoutOption("50 millis"))
    expect(gaveUp._tag).toBe("None")
    expect(yield* IpcLock.status(lock)).toEqual({ locked: true, waiting: 0 })
    const forged = yield* Effect.flip(IpcLock.release(lock, { token: "not-mine", abandoned: false }))
    expect(forged).toMatchObject({ _tag: "LockError", reason: "NotOwner" })
    yield* IpcLock.release(lock, mine)
    const twice = yield* Effect.flip(IpcLock.release(lock, mine))
    expect(twice).toMatchObject({ _tag: "LockError", reason: "NotOwner" })
    expect(yield* IpcLock.status(lock)).toEqual({ locked: false, waiting: 0 })
  }).pipe(Effect.scoped)
)

it.effect("a reentrant lock is entered again inside its withLock; a plain one refuses with WouldDeadlock", () =>
  Effect.gen(function* () {
    const reentrant = yield* IpcLock.make({ reentrant: true })
    const inner = yield* IpcLock.withLock(
      reentrant,
      IpcLock.withLock(reentrant, IpcLock.status(reentrant)).pipe(Effect.zip(IpcLock.status(reentrant)))
    )
    expect(inner).toEqual([
      { locked: true, waiting: 0 },
      { locked: true, waiting: 0 }
    ])
    expect(yield* IpcLock.status(reentrant)).toEqual({ locked: false, waiting: 0 })

    const plain = yield* IpcLock.make()
    const refused = yield* Effect.flip(IpcLock.withLock(plain, IpcLock.withLock(plain, Effect.void)))
    expect(refused).toMatchObject({ _tag: "LockError", reason: "WouldDeadlock" })
    expect(yield* IpcLock.status(plain)).toEqual({ locked: false, waiting: 0 })
  }).pipe(Effect.scoped)
)

it.live("a closed lock fails its waiters with ChannelError instead of leaving them hanging", () =>
  Effect.gen(function* () {
    const result = yield* Deferred.make<Exit.Exit<IpcLock.Held, unknown>>()
    yield* Effect.gen(function* () {
      const lock = yield* IpcLock.make()
      yield* IpcLock.acquire(lock)
      yield* Effect.forkDetach(
        Effect.exit(IpcLock.acquire(lock)).pipe(Effect.flatMap((exit) => Deferred.succeed(result, exit)))
      )
      yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 1)
    }).pipe(Effect.scoped)
    const exit = yield* Deferred.await(result)
    expect(exit).toMatchObject({ _tag: "Failure" })
    expect(Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined).toMatchObject({
      _tag: "Fail",
      error: { _tag: "ChannelError", reason: "ServiceClosed" }
    })
  })
)

it.live("semaphore: FIFO without overtaking, typed refusals, permits back after an interrupted wait", () =>
  Effect.gen(function* () {
    const semaphore = yield* IpcSemaphore.make(3)
    yield* IpcSemaphore.acquire(semaphore, 2)
    expect(yield* IpcSemaphore.available(semaphore)).toBe(1)
    // A waiter for 2 is not overtaken by a later waiter for 1, though 1 is free.
    const order: Array<string> = []
    const big = yield* Effect.forkChild(
      IpcSemaphore.withPermits(
        semaphore,
        2,
        Effect.sync(() => order.push("two"))
      )
    )
    yield* eventually(Effect.orDie(IpcSemaphore.status(semaphore)), (status) => status.waiting === 1)
    const small = yield* Effect.forkChild(
      IpcSemaphore.withPermits(
        semaphore,
        1,
        Effect.sync(() => order.push("one"))
      )
    )
    expect(yield* eventually(Effect.orDie(IpcSemaphore.status(semaphore)), (status) => status.waiting === 2)).toEqual({
      available: 1,
      waiting: 2
    })
    expect(order).toEqual([])
    yield* IpcSemaphore.release(semaphore, 2)
    yield* Fiber.join(big)
    yield* Fiber.join(small)
    expect(order).toEqual(["two", "one"])
    expect(yield* IpcSemaphore.available(semaphore)).toBe(3)

    const tooMany = yield* Effect.flip(IpcSemaphore.acquire(semaphore, 4))
    expect(tooMany).toMatchObject({ _tag: "SemaphoreError", reason: "InvalidCount" })
    const notHeld = yield* Effect.flip(IpcSemaphore.release(semaphore, 1))
    expect(notHeld).toMatchObject({ _tag: "SemaphoreError", reason: "NotHeld" })

    yield* IpcSemaphore.acquire(semaphore, 3)
    const gaveUp = yield* IpcSemaphore.acquire(semaphore, 1).pipe(Effect.timeoutOption("50 millis"))
    expect(gaveUp._tag).toBe("None")
    yield* IpcSemaphore.release(semaphore, 3)
    expect(yield* IpcSemaphore.available(semaphore)).toBe(3)
  }).pipe(Effect.scoped)
)

it.effect("SharedRef: get, set, modify and the update family, typed by its Schema", () =>
  Effect.gen(function* () {
    const ref = yield* SharedRef.make(Schema.Struct({ name: Schema.String, hits: Schema.Int }), {
      name: "home",
      hits: 0
    })
    yield* SharedRef.update(ref, (page) => ({ ...page, hits: page.hits + 1 }))
    expect(yield* SharedRef.getAndUpdate(ref, (page) => ({ ...page, hits: page.hits + 1 }))).toEqual({
      name: "home",
      hits: 1
    })
    expect(yield* SharedRef.updateAndGet(ref, (page) => ({ ...page, hits: page.hits * 10 }))).toEqual({
      name: "home",
      hits: 20
    })
    expect(yield* SharedRef.modify(ref, (page) => [page.hits, { name: "away", hits: 0 }] as const)).toBe(20)
    yield* SharedRef.set(ref, { name: "set", hits: 7 })
    expect(yield* SharedRef.get(ref)).toEqual({ name: "set", hits: 7 })
    // Concurrent updates in one process are atomic too.
    yield* Effect.forEach(range(50), () => SharedRef.update(ref, (page) => ({ ...page, hits: page.hits + 1 })), {
      concurrency: "unbounded"
    })
    expect((yield* SharedRef.get(ref)).hits).toBe(57)
    // What a caller without types may do: a value its Schema refuses, at the start or later.
    const made = yield* Effect.exit(SharedRef.make(Schema.Int, "x" as never))
    expect(String(made._tag === "Failure" && made.cause)).toContain("SharedRef.make expects an initial value")
    const set = yield* Effect.exit(SharedRef.set(ref, { name: 5 } as never))
    expect(set._tag).toBe("Failure")
    expect((yield* SharedRef.get(ref)).hits).toBe(57)
  }).pipe(Effect.scoped)
)
