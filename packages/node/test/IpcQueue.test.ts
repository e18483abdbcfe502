/**
 * IpcQueue: the host's logic in the host process alone (order, capacity,
 * poll, shutdown, taskDone/join, the stream's leftovers), then real
 * processes and threads: many producers and consumers count exactly, a full
 * queue holds a producer in a child back, shutdown ends waiting takers
 * typed, a consumer killed while holding unacknowledged items or while
 * waiting in `take` loses nothing, and consumers whose takes time out before
 * the reply comes lose nothing either (the late reply's items go back).
 */
import { it } from "@effect/vitest"
import { IpcQueue } from "@troupe/core"
import { Effect, Exit, Fiber, Option, Schema, Stream } from "effect"
import { expect } from "vitest"
import {
  Consume,
  ConsumeInGrandchild,
  ConsumeWithTimeouts,
  ConsumeWithTimeoutsInGrandchild,
  consumeWithTimeouts,
  FillThroughSink,
  OfferWithin,
  Produce,
  ProduceReporting,
  TakeAndDie,
  TakeOnce,
  TakeWithin,
  WaitInOfferAndDie,
  WaitInTakeAndDie
} from "./fixtures/ipcQueue.ts"
import { backends, range, withPool } from "./fixtures/pool.ts"

const ints = (capacity: number, acknowledged = false) => IpcQueue.make({ item: Schema.Int, capacity, acknowledged })

/** Sorted copy, to compare what was taken with what was put. */
const sorted = (items: ReadonlyArray<number>) => [...items].sort((a, b) => a - b)

it.effect("in the host process: first in, first out; poll, size, takeUpTo", () =>
  Effect.gen(function* () {
    const queue = yield* ints(10)
    yield* IpcQueue.offerAll(queue, [1, 2, 3, 4])
    yield* IpcQueue.offer(queue, 5)
    expect(yield* IpcQueue.size(queue)).toBe(5)
    expect(yield* IpcQueue.take(queue)).toBe(1)
    expect(yield* IpcQueue.takeUpTo(queue, 3)).toEqual([2, 3, 4])
    expect(yield* IpcQueue.poll(queue)).toEqual(Option.some(5))
    expect(yield* IpcQueue.poll(queue)).toEqual(Option.none())
    expect(yield* IpcQueue.size(queue)).toBe(0)
  }).pipe(Effect.scoped)
)

it.effect(
  "make: options of the wrong kind are a defect that names what is wrong; an item its Schema refuses is typed",
  () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, "IpcQueue.make expects options { item, capacity }"],
        [{ capacity: 2 }, "invalid option item"],
        [{ item: Schema.Int, capacity: 0 }, "invalid option capacity"]
      ]
      for (const [options, message] of cases) {
        const exit = yield* Effect.exit(IpcQueue.make(options as never))
        expect(String(exit._tag === "Failure" && exit.cause)).toContain(message)
      }
      const queue = yield* ints(2)
      expect(yield* Effect.exit(IpcQueue.offer(queue, "x" as never))).toMatchObject({ _tag: "Failure" })
      expect(yield* IpcQueue.size(queue)).toBe(0)
    }).pipe(Effect.scoped)
)

it.effect("in the host process: a full queue holds an offer back until a take makes room", () =>
  Effect.gen(function* () {
    const queue = yield* ints(2)
    yield* IpcQueue.offerAll(queue, [1, 2])
    const offering = yield* Effect.forkChild(IpcQueue.offerAll(queue, [3, 4]))
    yield* Effect.yieldNow
    expect(offering.pollUnsafe()).toBeUndefined()
    expect(yield* IpcQueue.take(queue)).toBe(1)
    expect(offering.pollUnsafe()).toBeUndefined()
    expect(yield* IpcQueue.take(queue)).toBe(2)
    yield* Fiber.join(offering)
    expect(yield* IpcQueue.takeUpTo(queue, 10)).toEqual([3, 4])
  }).pipe(Effect.scoped)
)

it.effect("in the host process: an interrupted take takes nothing, an interrupted offer puts nothing more", () =>
  Effect.gen(function* () {
    const queue = yield* ints(1)
    const taking = yield* Effect.forkChild(IpcQueue.take(queue))
    yield* Effect.yieldNow
    yield* Fiber.interrupt(taking)
    yield* IpcQueue.offer(queue, 7)
    const offering = yield* Effect.forkChild(IpcQueue.offer(queue, 8))
    yield* Effect.yieldNow
    yield* Fiber.interrupt(offering)
    expect(yield* IpcQueue.takeUpTo(queue, 10)).toEqual([7])
    expect(yield* IpcQueue.size(queue)).toBe(0)
  }).pipe(Effect.scoped)
)

it.live(
  "in the host process: an offer whose timeout passes before there is room fails QueueFull and puts nothing",
  () =>
    Effect.gen(function* () {
      const queue = yield* ints(1)
      yield* IpcQueue.offer(queue, 7)
      const full = yield* Effect.flip(IpcQueue.offer(queue, 8, { timeout: "20 millis" }))
      expect(full).toMatchObject({ _tag: "QueueFull", capacity: 1 })
      expect(yield* IpcQueue.size(queue)).toBe(1)
      const waiting = yield* Effect.forkChild(IpcQueue.offer(queue, 9, { timeout: "60 seconds" }))
      expect(yield* IpcQueue.take(queue)).toBe(7)
      yield* Fiber.join(waiting)
      expect(yield* IpcQueue.takeUpTo(queue, 10)).toEqual([9])
    }).pipe(Effect.scoped)
)

it.effect("in the host process: shutdown refuses offers, lets takes drain, then fails them", () =>
  Effect.gen(function* () {
    const queue = yield* ints(1)
    yield* IpcQueue.offer(queue, 1)
    const offering = yield* Effect.forkChild(IpcQueue.offer(queue, 2))
    yield* Effect.yieldNow
    yield* IpcQueue.shutdown(queue)
    const offered = yield* Fiber.await(offering)
    expect(Exit.isFailure(offered) && JSON.stringify(offered.cause)).toContain("QueueShutdown")
    expect((yield* Effect.flip(IpcQueue.offer(queue, 3)))._tag).toBe("QueueShutdown")
    expect(yield* IpcQueue.take(queue)).toBe(1)
    expect((yield* Effect.flip(IpcQueue.take(queue)))._tag).toBe("QueueShutdown")
    expect(yield* Stream.runCollect(IpcQueue.stream(queue))).toEqual([])
  }).pipe(Effect.scoped)
)

it.effect("in the host process: takes waiting when the queue is shut down fail with QueueShutdown", () =>
  Effect.gen(function* () {
    const queue = yield* ints(1)
    const waiting = yield* Effect.forkChild(
      Effect.flip(Effect.all([IpcQueue.take(queue), IpcQueue.take(queue)], { concurrency: 2 }))
    )
    yield* Effect.yieldNow
    expect(waiting.pollUnsafe()).toBeUndefined()
    yield* IpcQueue.shutdown(queue)
    expect((yield* Fiber.join(waiting))._tag).toBe("QueueShutdown")
  }).pipe(Effect.scoped)
)

it.effect("in the host process: join waits for taskDone of every item; too many taskDone fails typed", () =>
  Effect.gen(function* () {
    const queue = yield* ints(10)
    yield* IpcQueue.offerAll(queue, [1, 2, 3])
    const joining = yield* Effect.forkChild(IpcQueue.join(queue))
    yield* IpcQueue.takeUpTo(queue, 3)
    yield* IpcQueue.taskDone(queue, 2)
    yield* Effect.yieldNow
    expect(joining.pollUnsafe()).toBeUndefined()
    yield* IpcQueue.taskDone(queue)
    yield* Fiber.join(joining)
    const error = yield* Effect.flip(IpcQueue.taskDone(queue))
    expect(error._tag).toBe("QueueTaskDoneError")
  }).pipe(Effect.scoped)
)

it.effect("in the host process: counts that are NaN or fractional are typed errors, and change nothing", () =>
  Effect.gen(function* () {
    const queue = yield* ints(10)
    yield* IpcQueue.offerAll(queue, [1, 2, 3])
    const joining = yield* Effect.forkChild(IpcQueue.join(queue))
    // A take of NaN items used to take none and say so; a stream whose prefetch was NaN emitted undefined for ever.
    expect(yield* Effect.flip(IpcQueue.takeUpTo(queue, Number.NaN))).toMatchObject({ _tag: "RequestValidationError" })
    const streamed = IpcQueue.stream(queue, { prefetch: Number.NaN }).pipe(Stream.take(5), Stream.runCollect)
    expect(yield* Effect.flip(streamed)).toMatchObject({ _tag: "RequestValidationError" })
    expect(yield* IpcQueue.size(queue)).toBe(3)
    expect(yield* IpcQueue.takeUpTo(queue, Number.POSITIVE_INFINITY)).toEqual([1, 2, 3])
    // A taskDone of NaN used to make the count of unfinished items NaN: join then waited for ever.
    for (const count of [Number.NaN, 1.5]) {
      expect(yield* Effect.flip(IpcQueue.taskDone(queue, count))).toMatchObject({ _tag: "RequestValidationError" })
    }
    yield* IpcQueue.taskDone(queue, 3)
    yield* Fiber.join(joining)
  }).pipe(Effect.scoped)
)

it.effect("in the host process: an acknowledged queue acknowledges with taskDone, only what this process took", () =>
  Effect.gen(function* () {
    const queue = yield* ints(10, true)
    yield* IpcQueue.offerAll(queue, [1, 2])
    expect((yield* Effect.flip(IpcQueue.taskDone(queue)))._tag).toBe("QueueTaskDoneError")
    yield* IpcQueue.take(queue)
    yield* IpcQueue.taskDone(queue)
    expect((yield* Effect.flip(IpcQueue.taskDone(queue)))._tag).toBe("QueueTaskDoneError")
  }).pipe(Effect.scoped)
)

for (const acknowledged of [false, true]) {
  it.effect(
    `in the host process (acknowledged: ${acknowledged}): a stream's prefetched items it did not emit go back first`,
    () =>
      Effect.gen(function* () {
        const queue = yield* ints(100, acknowledged)
        yield* IpcQueue.offerAll(queue, range(10))
        expect(yield* Stream.runCollect(IpcQueue.stream(queue, { prefetch: 8 }).pipe(Stream.take(3)))).toEqual([
          0, 1, 2
        ])
        yield* Effect.yieldNow
        expect(yield* IpcQueue.takeUpTo(queue, 100)).toEqual([3, 4, 5, 6, 7, 8, 9])
      }).pipe(Effect.scoped)
  )
}

/**
 * Offers items (`produce`) while two consumers take them with
 * very short timeouts; waits until every item was marked done (bounded, so
 * that a lost item fails the comparison instead of hanging), then shuts the
 * queue down and returns what the consumers took and how often they timed out.
 */
const takeWithTimeouts = <E1, E2>(
  produce: (queue: IpcQueue.IpcQueue<number>) => Effect.Effect<void, E1>,
  consume: (
    queue: IpcQueue.IpcQueue<number>
  ) => Effect.Effect<{ readonly taken: ReadonlyArray<number>; readonly timedOut: number }, E2>
) =>
  Effect.gen(function* () {
    const queue = yield* ints(100)
    const consumers = yield* Effect.forkChild(Effect.all([consume(queue), consume(queue)], { concurrency: 2 }))
    yield* produce(queue)
    yield* IpcQueue.join(queue).pipe(Effect.timeoutOption("45 seconds"))
    yield* IpcQueue.shutdown(queue)
    const [a, b] = yield* Fiber.join(consumers)
    return { taken: [...a.taken, ...b.taken], timedOut: a.timedOut + b.timedOut }
  }).pipe(Effect.scoped)

it.live("in the host process: takes with very short timeouts lose no item and take none twice", () =>
  Effect.gen(function* () {
    const count = 2000
    const { taken, timedOut } = yield* takeWithTimeouts(
      (queue) =>
        // A pause between batches: the consumers find the queue empty, and wait past their timeouts.
        Effect.forEach(
          range(count / 5),
          (i) =>
            Effect.andThen(
              IpcQueue.offerAll(
                queue,
                range(5).map((k) => i * 5 + k)
              ),
              Effect.sleep("1 millis")
            ),
          { discard: true }
        ),
      consumeWithTimeouts
    )
    expect(sorted(taken)).toEqual(range(count))
    expect(timedOut).toBeGreaterThan(0)
  }).pipe(Effect.timeout("60 seconds"))
)

for (const backend of backends) {
  it.live(`${backend}: consumers in children whose takes time out lose no item and take none twice`, () =>
    withPool(backend, { size: 3 }, (pool) =>
      Effect.gen(function* () {
        const count = 2000
        const { taken, timedOut } = yield* takeWithTimeouts(
          (queue) => pool.apply(Produce, { queue, from: 0, count, batch: 5 }),
          (queue) => pool.apply(ConsumeWithTimeouts, { queue })
        )
        expect(sorted(taken)).toEqual(range(count))
        expect(timedOut).toBeGreaterThan(0)
      }).pipe(Effect.timeout("90 seconds"))
    )
  )

  it.live(
    `${backend}: a child's offers under short timeouts: an item is in the queue if and only if its offer succeeded`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const count = 300
          const queue = yield* ints(2)
          const taken: Array<number> = []
          // A slow consumer, so that the queue is often full and many offers time out in the parent.
          const consumer = yield* Effect.forkChild(
            Effect.forever(
              IpcQueue.take(queue).pipe(
                Effect.tap((n) => Effect.sync(() => taken.push(n))),
                Effect.andThen(Effect.sleep("1 millis"))
              )
            ).pipe(Effect.catchTag("QueueShutdown", () => Effect.void))
          )
          const put = yield* pool.apply(OfferWithin, { queue, count })
          yield* IpcQueue.shutdown(queue)
          yield* Fiber.join(consumer)
          // With Effect.timeout(0 or 1 ms) around each offer instead, 161 of 200 items were put by offers that failed.
          expect(sorted(taken)).toEqual(range(count).filter((i) => put[i]))
          expect(put.filter((ok) => !ok).length).toBeGreaterThan(0)
          expect(put.filter((ok) => ok).length).toBeGreaterThan(0)
        }).pipe(Effect.scoped, Effect.timeout("90 seconds"))
      )
  )
}

it.live(
  "process: consumers in grandchildren whose takes time out lose no item (late replies pass through)",
  () =>
    withPool("process", { size: 3 }, (pool) =>
      Effect.gen(function* () {
        const count = 1000
        const { taken, timedOut } = yield* takeWithTimeouts(
          (queue) => pool.apply(Produce, { queue, from: 0, count, batch: 5 }),
          (queue) => pool.apply(ConsumeWithTimeoutsInGrandchild, { queue })
        )
        expect(sorted(taken)).toEqual(range(count))
        expect(timedOut).toBeGreaterThan(0)
      }).pipe(Effect.timeout("110 seconds"))
    ),
  120_000
)

for (const backend of backends) {
  for (const acknowledged of [false, true]) {
    it.live(`${backend} (acknowledged: ${acknowledged}): two producers and two consumers count exactly`, () =>
      withPool(backend, { size: 4 }, (pool) =>
        Effect.gen(function* () {
          const queue = yield* ints(50, acknowledged)
          const consumers = yield* Effect.forkChild(
            Effect.all(
              [pool.apply(Consume, { queue, how: "stream" }), pool.apply(Consume, { queue, how: "takeUpTo" })],
              {
                concurrency: "unbounded"
              }
            )
          )
          yield* Effect.all(
            [
              pool.apply(Produce, { queue, from: 0, count: 1000, batch: 1 }),
              pool.apply(Produce, { queue, from: 1000, count: 1000, batch: 37 })
            ],
            { concurrency: "unbounded" }
          )
          yield* IpcQueue.join(queue)
          yield* IpcQueue.shutdown(queue)
          const [a, b] = yield* Fiber.join(consumers)
          expect(sorted([...a, ...b])).toEqual(range(2000))
          expect(yield* IpcQueue.size(queue)).toBe(0)
        }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
      )
    )
  }

  it.live(`${backend}: a full queue holds a producer in a child back until a consumer takes`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const capacity = 2
        const count = 30
        const queue = yield* ints(capacity)
        const progress = yield* ints(count)
        const producing = yield* Effect.forkChild(pool.apply(ProduceReporting, { queue, progress, count }))
        let reported = 0
        for (let taken = 0; taken < count; taken++) {
          // Every offer the child saw return was made with room: at most `capacity` more than were taken.
          while (Option.isSome(yield* IpcQueue.poll(progress))) reported++
          expect(reported).toBeLessThanOrEqual(taken + capacity)
          if (taken < count - capacity) expect(producing.pollUnsafe()).toBeUndefined()
          expect(yield* IpcQueue.take(queue)).toBe(taken)
        }
        yield* Fiber.join(producing)
      }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
    )
  )

  it.live(`${backend}: shutdown ends takes waiting in children with QueueShutdown, and a child's stream`, () =>
    withPool(backend, { size: 3 }, (pool) =>
      Effect.gen(function* () {
        const queue = yield* ints(10)
        const takes = yield* Effect.forkChild(
          Effect.all(
            [
              pool.apply(TakeOnce, { queue }),
              pool.apply(TakeOnce, { queue }),
              pool.apply(Consume, { queue, how: "stream" })
            ],
            {
              concurrency: "unbounded"
            }
          )
        )
        yield* IpcQueue.shutdown(queue)
        const [first, second, streamed] = yield* Fiber.join(takes)
        expect([first, second, streamed]).toEqual(["QueueShutdown", "QueueShutdown", []])
      }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
    )
  )

  it.live(`${backend}: a take interrupted in a child while it waits takes nothing`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const queue = yield* ints(10)
        expect(yield* pool.apply(TakeWithin, { queue, ms: 200 })).toBe(false)
        yield* IpcQueue.offerAll(queue, [1, 2, 3])
        expect(yield* IpcQueue.takeUpTo(queue, 10)).toEqual([1, 2, 3])
      }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
    )
  )

  it.live(`${backend}: a child's sink fills the queue`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const queue = yield* ints(1000)
        yield* pool.apply(FillThroughSink, { queue, from: 1, count: 500 })
        expect(yield* IpcQueue.takeUpTo(queue, 1000)).toEqual(range(500).map((n) => n + 1))
      }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
    )
  )

  it.live(
    `${backend}: items a killed consumer took and did not acknowledge go back to the head of an acknowledged queue`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const queue = yield* ints(100, true)
          const pids = yield* ints(10)
          yield* IpcQueue.offerAll(queue, range(20))
          const run = yield* Effect.forkChild(
            Effect.exit(pool.apply(TakeAndDie, { queue, pids, count: 5, exit: backend === "thread" }))
          )
          const pid = yield* IpcQueue.take(pids)
          expect(yield* IpcQueue.size(queue)).toBe(15)
          if (backend === "process") process.kill(pid, "SIGKILL")
          expect(Exit.isFailure(yield* Fiber.join(run))).toBe(true)
          const all: Array<number> = []
          while (all.length < 20) all.push(...(yield* IpcQueue.takeUpTo(queue, 20)))
          // Back at the head, in their order: nothing lost, nothing twice.
          expect(all).toEqual(range(20))
          yield* IpcQueue.taskDone(queue, 20)
          yield* IpcQueue.join(queue)
        }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
      )
  )

  for (const acknowledged of [false, true]) {
    it.live(`${backend} (acknowledged: ${acknowledged}): a consumer killed while waiting in take loses nothing`, () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const queue = yield* ints(100, acknowledged)
          const pids = yield* ints(10)
          const run = yield* Effect.forkChild(
            Effect.exit(pool.apply(WaitInTakeAndDie, { queue, pids, exit: backend === "thread" }))
          )
          const pid = yield* IpcQueue.take(pids)
          if (backend === "process") process.kill(pid, "SIGKILL")
          expect(Exit.isFailure(yield* Fiber.join(run))).toBe(true)
          yield* IpcQueue.offerAll(queue, range(10))
          expect(yield* IpcQueue.takeUpTo(queue, 100)).toEqual(range(10))
        }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
      )
    )
  }

  it.live(
    `${backend}: a producer killed while its offer waits for room puts nothing, however soon the parent acts`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const queue = yield* ints(1)
          const pids = yield* ints(10)
          yield* IpcQueue.offer(queue, 0)
          const run = yield* Effect.forkChild(
            Effect.exit(pool.apply(WaitInOfferAndDie, { queue, pids, exit: backend === "thread" }))
          )
          const pid = yield* IpcQueue.take(pids)
          if (backend === "process") process.kill(pid, "SIGKILL")
          expect(Exit.isFailure(yield* Fiber.join(run))).toBe(true)
          // The caller knows the producer is dead: the room its take makes must not go to the dead offer (before: the
          // pool failed the task before the channel interrupted the calls of its process, and the item went in).
          expect(yield* IpcQueue.take(queue)).toBe(0)
          expect(yield* IpcQueue.poll(queue)).toEqual(Option.none())
        }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
      )
  )
}

it.live("process: a grandchild consumes an acknowledged queue through its parent, every item once", () =>
  withPool("process", { size: 1 }, (pool) =>
    Effect.gen(function* () {
      const queue = yield* ints(10, true)
      const consuming = yield* Effect.forkChild(pool.apply(ConsumeInGrandchild, { queue, how: "stream" }))
      yield* IpcQueue.offerAll(queue, range(100))
      yield* IpcQueue.join(queue)
      yield* IpcQueue.shutdown(queue)
      expect(yield* Fiber.join(consuming)).toEqual(range(100))
    }).pipe(Effect.scoped, Effect.timeout("60 seconds"))
  )
)
