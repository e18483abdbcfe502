/**
 * Hostile scenarios for processes that talk to their parent: a child killed
 * while its call runs in the parent, a task that submits to its pool while
 * the pool shuts down, payloads a Schema refuses or a limit does not take,
 * children waiting on a queue whose scope closes, a lock's holder killed
 * while a child waits, an actor that asks itself. Every call must settle
 * within a bound that only catches hangs, with a typed error where it fails.
 */
import { it } from "@effect/vitest"
import { ActorDirectory, Channel, IpcLock, IpcQueue, Pool, PoolHandle, SharedRef, Supervisor } from "@troupe/core"
import { NodePool, NodeProcess } from "@troupe/node"
import { Deferred, Effect, Exit, Fiber, Queue, Ref, Schema, Scope } from "effect"
import { expect } from "vitest"
import {
  AcquireLock,
  CallHang,
  CallUnsendable,
  Collect,
  DuplicateCalls,
  HoldLockForever,
  Narcissus,
  NarcissusBehaviour,
  NestedAfterGate,
  NestedBadPayload,
  NestedEcho,
  NestedForever,
  NestedNoteHuge,
  NoteHuge,
  OfferUnknown,
  Probe,
  Produce,
  SetShared,
  Square,
  WaitOnQueue
} from "./fixtures/hostile.ts"
import { backends, eventually, range, withPool } from "./fixtures/pool.ts"

/** The bound on any one wait: long enough for a loaded machine, short enough to catch a hang. */
const bound = "20 seconds"

interface Note {
  readonly event: string
  readonly pid: number
}

/** Hosts `Probe`: notes in arrival order, `Hang` noting its interruption, `Gate` waiting for `open`. */
const serveProbe = Effect.gen(function* () {
  const arrivals = yield* Queue.unbounded<Note>()
  const hangInterrupted = yield* Deferred.make<void>()
  const gate = yield* Deferred.make<void>()
  const probe = yield* Channel.serve(Probe, {
    Note: (note) => Effect.sync(() => Queue.offerUnsafe(arrivals, note)),
    Hang: () =>
      Effect.sync(() => Queue.offerUnsafe(arrivals, { event: "hanging", pid: 0 })).pipe(
        Effect.andThen(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(hangInterrupted, undefined))
      ),
    Gate: () => Deferred.await(gate),
    Unsendable: () => Effect.sync(unsendable)
  })
  const next = (event: string) =>
    Queue.take(arrivals).pipe(
      Effect.repeat({ until: (note) => note.event === event }),
      Effect.timeout(bound),
      Effect.orDie
    )
  return { probe, next, hangInterrupted, open: Deferred.succeed(gate, undefined) }
})

/**
 * A reply whose JSON is longer than a string may be (V8's limit is about 2^29
 * characters): the service's checks pass it, and `process.send` throws on it.
 */
const unsendable = () => {
  const half = "x".repeat(2 ** 28)
  return [half, half]
}

const failureOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? exit.cause.reasons.map((reason) => (reason._tag === "Fail" ? reason.error : reason)) : []

for (const backend of backends) {
  it.live(`${backend}: a child that dies while its call runs in the parent: the parent's handler is interrupted`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const { hangInterrupted, next, open, probe } = yield* serveProbe
        const run = yield* Effect.forkChild(Effect.exit(pool.apply(CallHang, { probe, exit: backend === "thread" })))
        const calling = yield* next("calling")
        yield* next("hanging")
        // A process is killed from outside; a thread ends itself (process.exit) when the gate opens.
        if (backend === "process") process.kill(calling.pid, "SIGKILL")
        else yield* open
        yield* Deferred.await(hangInterrupted).pipe(Effect.timeout(bound))
        const exit = yield* Fiber.join(run).pipe(Effect.timeout(bound))
        expect(failureOf(exit)).toMatchObject([{ _tag: "WorkerCrashed" }])
      }).pipe(Effect.scoped)
    )
  )

  it.live(`${backend}: a child that dies while its nested pool call runs: the nested task is interrupted`, () =>
    withPool(backend, { size: 2 }, (pool) =>
      Effect.gen(function* () {
        const { next, open, probe } = yield* serveProbe
        const handle = yield* PoolHandle.make(pool)
        const run = yield* Effect.forkChild(
          Effect.exit(pool.apply(NestedForever, { pool: handle, probe, exit: backend === "thread" }))
        )
        const calling = yield* next("calling")
        yield* next("running")
        // A process is killed from outside; a thread ends itself (process.exit) when the gate opens.
        if (backend === "process") process.kill(calling.pid, "SIGKILL")
        else yield* open
        yield* next("interrupted")
        const exit = yield* Fiber.join(run).pipe(Effect.timeout(bound))
        expect(failureOf(exit)).toMatchObject([{ _tag: "WorkerCrashed" }])
        // Nothing is left running, and the pool serves on.
        yield* eventually(
          Effect.map(pool.stats, (stats) => stats.inFlight + stats.queued),
          (n) => n === 0,
          20_000
        )
        expect(yield* pool.apply(Square, 4).pipe(Effect.timeout(bound))).toBe(16)
      }).pipe(Effect.scoped)
    )
  )

  for (const handleScope of ["pool's", "outer"] as const) {
    it.live(
      `${backend}: a task submits to its own pool while the pool shuts down (handle in the ${handleScope} scope): typed, no hang`,
      () =>
        Effect.gen(function* () {
          const { next, open, probe } = yield* serveProbe
          const outer = yield* Effect.scope
          const poolScope = yield* Scope.make()
          const pool = yield* Pool.make({ size: 2 }).pipe(Scope.provide(poolScope))
          const handle = yield* PoolHandle.make(pool).pipe(Scope.provide(handleScope === "outer" ? outer : poolScope))
          const run = yield* Effect.forkChild(Effect.exit(pool.apply(NestedAfterGate, { pool: handle, probe })))
          yield* next("atGate")
          const closing = yield* Effect.forkChild(Scope.close(poolScope, Exit.void))
          // Once the shutdown has started (the pool refuses new work), the task submits.
          yield* eventually(
            Effect.exit(pool.apply(Square, 2)),
            (exit) => {
              const error = Exit.findErrorOption(exit)
              return error._tag === "Some" && error.value._tag === "PoolShuttingDown"
            },
            20_000
          )
          yield* open
          yield* Fiber.join(closing).pipe(Effect.timeout(bound))
          const exit = yield* Fiber.join(run).pipe(Effect.timeout(bound))
          expect(Exit.isSuccess(exit)).toBe(true)
          const got = Exit.isSuccess(exit) ? exit.value : ""
          expect(got).toBe(handleScope === "outer" ? "PoolShuttingDown" : "ChannelError:ServiceClosed")
        }).pipe(Effect.scoped, Effect.provide(NodePool.transport(backend)))
    )
  }

  it.live(
    `${backend}: a nested call the task's Schema refuses, or over maxPayloadBytes, fails typed in the child`,
    () =>
      withPool(backend, { size: 2, maxPayloadBytes: 10_000 }, (pool) =>
        Effect.gen(function* () {
          // Both workers up first: the count below is of restarts, not of a worker still starting.
          yield* pool.ready
          const handle = yield* PoolHandle.make(pool)
          expect(yield* pool.apply(NestedBadPayload, { pool: handle, n: 2 })).toBe("ok:4")
          expect(yield* pool.apply(NestedBadPayload, { pool: handle, n: 1.5 })).toBe("RequestValidationError")
          expect(yield* pool.apply(NestedBadPayload, { pool: handle, n: "two" })).toBe("RequestValidationError")
          expect(yield* pool.apply(NestedEcho, { pool: handle, size: 100 })).toBe("ok:100")
          expect(yield* pool.apply(NestedEcho, { pool: handle, size: 100_000 })).toBe("PayloadTooLarge")
          // The workers that saw all that are still the same two.
          const stats = yield* pool.stats
          expect(stats.workerStarts).toBe(2)
        }).pipe(Effect.scoped)
      )
  )

  it.live(
    `${backend}: a call to a shared value over maxPayloadBytes is a PayloadTooLarge in the child, and its worker stays`,
    () =>
      // A frame limit below the payload: a process used to send the call anyway and be killed for its frame.
      withPool(backend, { size: 1, maxPayloadBytes: 10_000, maxFrameBytes: 100_000 }, (pool) =>
        Effect.gen(function* () {
          yield* pool.ready
          const ref = yield* SharedRef.make(Schema.String, "")
          expect(yield* pool.apply(SetShared, { ref, size: 200_000 })).toBe("PayloadTooLarge")
          expect(yield* SharedRef.get(ref)).toBe("")
          expect(yield* pool.apply(SetShared, { ref, size: 100 })).toBe("ok:undefined")
          expect((yield* SharedRef.get(ref)).length).toBe(100)
          expect((yield* pool.stats).workerStarts).toBe(1)
        }).pipe(Effect.scoped)
      )
  )

  it.live(
    `${backend}: a grandchild's call over its parent worker's maxPayloadBytes is a PayloadTooLarge in the grandchild, and the worker stays`,
    () =>
      // The worker's nested pool has no limit: the worker forwards its grandchild's call, and is held to its own.
      withPool(backend, { size: 1, maxPayloadBytes: 10_000, maxFrameBytes: 100_000 }, (pool) =>
        Effect.gen(function* () {
          const { probe } = yield* serveProbe
          yield* pool.ready
          const forward = (size: number) =>
            pool.apply(NestedNoteHuge, { probe, size, backend }).pipe(Effect.timeout(bound))
          // Over the payload limit and under the frame limit; then over both (a process was killed for its frame).
          expect(yield* forward(20_000)).toBe("PayloadTooLarge")
          expect(yield* forward(200_000)).toBe("PayloadTooLarge")
          expect(yield* forward(100)).toBe("ok:undefined")
          expect((yield* pool.stats).workerStarts).toBe(1)
        }).pipe(Effect.scoped)
      ),
    60_000
  )

  it.live(
    `${backend}: an item the queue's Schema refuses fails typed in the child that offers it; nothing goes in`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const queue = yield* IpcQueue.make({ item: Schema.Int, capacity: 10 })
          expect(yield* pool.apply(OfferUnknown, { queue, item: 1.5 })).toBe("RequestValidationError")
          expect(yield* pool.apply(OfferUnknown, { queue, item: "one" })).toBe("RequestValidationError")
          expect(yield* IpcQueue.size(queue)).toBe(0)
          expect(yield* pool.apply(OfferUnknown, { queue, item: 1 })).toBe("ok:undefined")
          expect(yield* IpcQueue.size(queue)).toBe(1)
        }).pipe(Effect.scoped)
      )
  )

  it.live(
    `${backend}: children waiting to offer and to take when the queue's scope closes fail with ServiceClosed`,
    () =>
      withPool(backend, { size: 2 }, (pool) =>
        Effect.gen(function* () {
          const { next, probe } = yield* serveProbe
          const queueScope = yield* Scope.make()
          const full = yield* IpcQueue.make({ item: Schema.Int, capacity: 1 }).pipe(Scope.provide(queueScope))
          const empty = yield* IpcQueue.make({ item: Schema.Int, capacity: 1 }).pipe(Scope.provide(queueScope))
          yield* IpcQueue.offer(full, 0)
          const offering = yield* Effect.forkChild(pool.apply(WaitOnQueue, { queue: full, probe, op: "offer" }))
          yield* next("waiting")
          const taking = yield* Effect.forkChild(pool.apply(WaitOnQueue, { queue: empty, probe, op: "take" }))
          yield* next("waiting")
          yield* Effect.sleep(200)
          yield* Scope.close(queueScope, Exit.void).pipe(Effect.timeout(bound))
          expect(yield* Fiber.join(offering).pipe(Effect.timeout(bound))).toBe("ChannelError:ServiceClosed")
          expect(yield* Fiber.join(taking).pipe(Effect.timeout(bound))).toBe("ChannelError:ServiceClosed")
        }).pipe(Effect.scoped)
      )
  )
}

for (const backend of backends) {
  for (const order of ["first", "with its producers"] as const) {
    it.live(
      `${backend}: a task waiting through a queue for 40 tasks of its own pool (submitted ${order}) finishes on a worker to spare`,
      () =>
        withPool(backend, { size: 2 }, (pool) =>
          Effect.gen(function* () {
            const results = yield* IpcQueue.make({ item: Schema.Int, capacity: Number.POSITIVE_INFINITY })
            const collect = pool.apply(Collect, { results, count: 40 })
            const produce = Effect.forEach(range(40), (n) => pool.apply(Produce, { results, n }), {
              concurrency: "unbounded"
            })
            // The queue is deep: the pool prefetches, also into the worker whose task waits for the others.
            const sum =
              order === "first"
                ? yield* Effect.gen(function* () {
                    const collecting = yield* Effect.forkChild(collect)
                    yield* eventually(
                      Effect.map(pool.stats, (stats) => stats.inFlight),
                      (n) => n === 1,
                      20_000
                    )
                    yield* produce.pipe(Effect.timeout(bound))
                    return yield* Fiber.join(collecting).pipe(Effect.timeout(bound))
                  })
                : yield* Effect.all([collect, produce], { concurrency: "unbounded" }).pipe(
                    Effect.map(([sum]) => sum),
                    Effect.timeout(bound)
                  )
            expect(sum).toBe(780)
          }).pipe(Effect.scoped)
        )
    )
  }
}

it.live(
  "process: a reply of the parent's service the channel cannot carry is a ResultEncodeError in the child; its next call is answered",
  () =>
    withPool("process", { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const { probe } = yield* serveProbe
        expect(yield* pool.apply(CallUnsendable, { probe }).pipe(Effect.timeout(bound))).toEqual([
          "ResultEncodeError",
          "ok:undefined"
        ])
        expect((yield* pool.stats).workerStarts).toBe(1)
      }).pipe(Effect.scoped)
    )
)

it.live("process: a child that reuses a call's id is killed as broken, and no handler it started runs on", () =>
  withPool("process", { size: 1 }, (pool) =>
    Effect.gen(function* () {
      const running = yield* Ref.make(0)
      const started = yield* Deferred.make<void>()
      const probe = yield* Channel.serve(Probe, {
        // Never answers: each call the child makes holds a handler until it is interrupted.
        Note: () =>
          Ref.update(running, (n) => n + 1).pipe(
            Effect.andThen(Deferred.succeed(started, undefined)),
            Effect.andThen(Effect.never),
            Effect.ensuring(Ref.update(running, (n) => n - 1))
          ),
        Hang: () => Effect.void,
        Gate: () => Effect.void,
        Unsendable: () => Effect.void
      })
      const exit = yield* Effect.exit(pool.apply(DuplicateCalls, { probe, count: 100 }).pipe(Effect.timeout(bound)))
      // Killed as broken (its exit status is the kill's, or its own when it saw its channel close first).
      expect(failureOf(exit)).toMatchObject([
        { _tag: "WorkerCrashed", reason: expect.stringContaining("was still running") }
      ])
      yield* Deferred.await(started).pipe(Effect.timeout(bound))
      // The child is gone: every call it made is interrupted (before, only the last of the 100 was).
      expect(yield* eventually(Ref.get(running), (n) => n === 0, 20_000)).toBe(0)
    }).pipe(Effect.scoped)
  )
)

it.live("process: the lock's holder is killed while another child waits: the waiter gets it, abandoned", () =>
  withPool("process", { size: 2 }, (pool) =>
    Effect.gen(function* () {
      const { next, probe } = yield* serveProbe
      const lock = yield* IpcLock.make()
      const holding = yield* Effect.forkChild(Effect.exit(pool.apply(HoldLockForever, { lock, probe })))
      const held = yield* next("held")
      const waiter = yield* Effect.forkChild(pool.apply(AcquireLock, { lock, probe }))
      yield* next("waiting")
      yield* eventually(Effect.orDie(IpcLock.status(lock)), (status) => status.waiting === 1, 20_000)
      process.kill(held.pid, "SIGKILL")
      expect(yield* Fiber.join(waiter).pipe(Effect.timeout(bound))).toBe(true)
      expect(yield* IpcLock.status(lock)).toEqual({ locked: false, waiting: 0 })
      expect(failureOf(yield* Fiber.join(holding))).toMatchObject([{ _tag: "WorkerCrashed" }])
    }).pipe(Effect.scoped)
  )
)

it.live(
  "process: a call whose frame would be over the pool's maxFrameBytes, without maxPayloadBytes, is a PayloadTooLarge in the child; the worker stays",
  () =>
    withPool("process", { size: 1, maxFrameBytes: 1024 * 1024 }, (pool) =>
      Effect.gen(function* () {
        const { probe } = yield* serveProbe
        expect(yield* pool.apply(NoteHuge, { probe, size: 1000 })).toBe("ok:undefined")
        // Before, the call went up as a frame over the limit: the worker was killed, its call a WorkerCrashed.
        expect(yield* pool.apply(NoteHuge, { probe, size: 2 * 1024 * 1024 }).pipe(Effect.timeout(bound))).toBe(
          "PayloadTooLarge"
        )
        expect(yield* pool.apply(Square, 3).pipe(Effect.timeout(bound))).toBe(9)
        expect((yield* pool.stats).workerStarts).toBe(1)
      }).pipe(Effect.scoped)
    )
)

it.live("an actor that asks itself through its own ref waits for its askTimeout (AskTimeout), then serves on", () =>
  Effect.gen(function* () {
    const sup = yield* Supervisor.start({ intensity: 10, period: "1 minute" }, [
      Supervisor.worker("narcissus", NarcissusBehaviour, { mailbox: { askTimeout: "2 seconds" } })
    ])
    const directory = yield* ActorDirectory.ofSupervisor(sup)
    const narcissus = sup.ref("narcissus", Narcissus)
    // Its Ping waits in its own mailbox behind the AskSelf that sent it: only the asks' bound ends the wait, and the
    // outer ask, made first, times out first.
    const exit = yield* Effect.exit(narcissus.ask("AskSelf", { directory, path: "narcissus" })).pipe(
      Effect.timeout(bound)
    )
    expect(failureOf(exit)).toMatchObject([{ _tag: "AskTimeout", tag: "AskSelf" }])
    // The actor is free again: the Ping it sent itself did not wedge its mailbox.
    expect(yield* narcissus.ask("Ping", undefined).pipe(Effect.timeout(bound))).toBe("pong")
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
)
