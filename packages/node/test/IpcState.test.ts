/**
 * SharedMap, IpcPipe, IpcEvent and IpcBarrier on real processes: a map
 * updated from four processes at once stays exact; a pipe carries messages
 * both ways in order and its parent end ends typed when the child exits or
 * is SIGKILLed; an event wakes waiters in several processes; a barrier of
 * three processes passes round after round, and breaks for everyone when a
 * waiting party is SIGKILLed.
 */
import { it } from "@effect/vitest"
import {
  IpcBarrier,
  IpcEvent,
  IpcLock,
  IpcPipe,
  IpcQueue,
  IpcSemaphore,
  Process,
  SharedMap,
  SharedMemory,
  SharedRef
} from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Cause, Effect, Exit, Fiber, Option, Schema, Scope, Stream } from "effect"
import { expect } from "vitest"
import {
  BarrierRounds,
  BarrierWaitThenExit,
  BarrierWaitWithin,
  EventWait,
  MapIncrement,
  PipeChild,
  PipeImpatient,
  PipeIntrude
} from "./fixtures/ipcState.ts"
import { backends, eventually, range, withPool } from "./fixtures/pool.ts"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause).pipe(Option.getOrUndefined) : undefined

it.effect("SharedMap: get, set, remove, has, size, keys, entries, clear; keys compared by their encoding", () =>
  Effect.gen(function* () {
    const Point = Schema.Struct({ x: Schema.Int, y: Schema.Int })
    const map = yield* SharedMap.make(Point, Schema.String)
    expect(yield* SharedMap.get(map, { x: 1, y: 2 })).toEqual(Option.none())
    yield* SharedMap.set(map, { x: 1, y: 2 }, "a")
    yield* SharedMap.set(map, { x: 3, y: 4 }, "b")
    // A structurally equal key, another object: the same key.
    yield* SharedMap.set(map, { x: 1, y: 2 }, "c")
    expect(yield* SharedMap.get(map, { x: 1, y: 2 })).toEqual(Option.some("c"))
    expect(yield* SharedMap.size(map)).toBe(2)
    expect(yield* SharedMap.has(map, { x: 3, y: 4 })).toBe(true)
    expect(yield* SharedMap.keys(map)).toEqual([
      { x: 1, y: 2 },
      { x: 3, y: 4 }
    ])
    expect(yield* SharedMap.entries(map)).toEqual([
      [{ x: 1, y: 2 }, "c"],
      [{ x: 3, y: 4 }, "b"]
    ])
    expect(yield* SharedMap.remove(map, { x: 3, y: 4 })).toBe(true)
    expect(yield* SharedMap.remove(map, { x: 3, y: 4 })).toBe(false)
    const previous = yield* SharedMap.modify(map, { x: 1, y: 2 }, (v) => [v, "d"] as const)
    expect(previous).toEqual(Option.some("c"))
    yield* SharedMap.clear(map)
    expect(yield* SharedMap.size(map)).toBe(0)
    // A record's fields come in the order they were written: that order is not part of the key.
    const tags = yield* SharedMap.make(Schema.Record(Schema.String, Schema.Int), Schema.String)
    yield* SharedMap.set(tags, { a: 1, b: 2 }, "first")
    yield* SharedMap.set(tags, { b: 2, a: 1 }, "second")
    expect(yield* SharedMap.size(tags)).toBe(1)
    expect(yield* SharedMap.get(tags, { a: 1, b: 2 })).toEqual(Option.some("second"))
  }).pipe(Effect.scoped)
)

it.live(
  "SharedMap: 4 processes x 500 atomic updates of one key give exactly 2000",
  () =>
    withPool("process", { size: 4 }, (pool) =>
      Effect.gen(function* () {
        const map = yield* SharedMap.make(Schema.String, Schema.Int)
        yield* Effect.forEach(range(4), () => pool.apply(MapIncrement, { map, key: "hits", times: 500 }), {
          concurrency: "unbounded"
        })
        expect(yield* SharedMap.get(map, "hits")).toEqual(Option.some(2000))
      }).pipe(Effect.scoped)
    ),
  120_000
)

const ParentEnd = IpcPipe.schema(Schema.String, Schema.String)

it.live(
  "IpcPipe: both ways in order; the child exits and the parent's receive ends with PipeClosed",
  () =>
    Effect.gen(function* () {
      const [mine, theirs] = yield* IpcPipe.make(Schema.String, Schema.String)
      const child = yield* Process.start(PipeChild, { end: theirs, count: 50, block: false })
      for (const i of range(50)) yield* IpcPipe.send(mine, `parent-${i}`)
      const received = yield* Stream.runCollect(IpcPipe.stream(mine)).pipe(Effect.timeout("60 seconds"))
      expect(received).toEqual(range(50).map((i) => `child-${i}`))
      expect(yield* child.result).toEqual(range(50).map((i) => `parent-${i}`))
      const after = yield* Effect.exit(IpcPipe.receive(mine))
      expect(failureOf(after)).toMatchObject({ _tag: "PipeClosed", reason: "PeerClosed" })
      expect(failureOf(yield* Effect.exit(IpcPipe.send(mine, "late")))).toMatchObject({ _tag: "PipeClosed" })
      expect(Schema.is(ParentEnd)(mine)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  120_000
)

it.live(
  "IpcPipe: the child is SIGKILLed; the parent receives what it sent, then PipeClosed",
  () =>
    Effect.gen(function* () {
      const [mine, theirs] = yield* IpcPipe.make(Schema.String, Schema.String)
      const child = yield* Process.start(PipeChild, { end: theirs, count: 3, block: true })
      for (const i of range(3)) yield* IpcPipe.send(mine, `parent-${i}`)
      const received: Array<string> = []
      for (const _ of range(3)) received.push(yield* IpcPipe.receive(mine))
      expect(received).toEqual(["child-0", "child-1", "child-2"])
      // The parent waits for a message that will never come; the child dies meanwhile.
      const waiting = yield* Effect.forkChild(Effect.exit(IpcPipe.receive(mine)))
      process.kill(child.pid, "SIGKILL")
      const exit = yield* Fiber.join(waiting).pipe(Effect.timeout("60 seconds"))
      expect(failureOf(exit)).toMatchObject({ _tag: "PipeClosed", reason: "PeerClosed" })
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  120_000
)

for (const receivers of [1, 2]) {
  it.live(
    `IpcPipe: receives interrupted at random (${receivers} receiving fiber(s)) get every message exactly once, in order`,
    () =>
      Effect.gen(function* () {
        const count = 300
        const [mine, theirs] = yield* IpcPipe.make(Schema.String, Schema.String)
        const child = yield* Process.start(PipeImpatient, { end: theirs, count, receivers })
        expect(yield* IpcPipe.receive(mine)).toBe("ready")
        // In small bursts, so that receives both find messages waiting and wait for them.
        for (const i of range(count)) {
          yield* IpcPipe.send(mine, `m-${i}`)
          if (i % 7 === 0) yield* Effect.sleep(1)
        }
        const { received, timeouts } = yield* child.result.pipe(Effect.timeout("60 seconds"))
        // Each fiber got its messages in the order they were sent; together, each message once.
        for (const got of received) {
          const numbers = got.map((m) => Number(m.slice(2)))
          expect(numbers).toEqual([...numbers].sort((x, y) => x - y))
        }
        const all = received.flat().map((m) => Number(m.slice(2)))
        expect(all.sort((x, y) => x - y)).toEqual(range(count))
        expect(timeouts).toBeGreaterThan(0)
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
    120_000
  )
}

it.live(
  "IpcPipe: an end used by one process fails typed in another",
  () =>
    withPool("process", { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const [mine, theirs] = yield* IpcPipe.make(Schema.String, Schema.String)
        // The parent uses `theirs` first: it is the parent's now.
        yield* IpcPipe.send(theirs, "from the parent")
        expect(yield* IpcPipe.receive(mine)).toBe("from the parent")
        expect(yield* pool.apply(PipeIntrude, { end: theirs })).toBe("PipeEndInUse")
        // A closed end: the other receives what was sent, then PipeClosed.
        yield* IpcPipe.send(mine, "last")
        yield* IpcPipe.close(mine)
        expect(yield* IpcPipe.receive(theirs)).toBe("last")
        expect(failureOf(yield* Effect.exit(IpcPipe.receive(theirs)))).toMatchObject({ reason: "PeerClosed" })
        expect(failureOf(yield* Effect.exit(IpcPipe.receive(mine)))).toMatchObject({ reason: "Closed" })
      }).pipe(Effect.scoped)
    ),
  120_000
)

it.live(
  "IpcEvent: set wakes waiters in three processes; a wait with a timeout returns false",
  () =>
    withPool("process", { size: 3 }, (pool) =>
      Effect.gen(function* () {
        const event = yield* IpcEvent.make
        const notes = yield* SharedMap.make(Schema.String, Schema.Int)
        expect(yield* IpcEvent.isSet(event)).toBe(false)
        const timedOut = yield* pool.apply(EventWait, { event, notes, timeoutMillis: 100 })
        expect(timedOut).toBe(false)
        yield* SharedMap.clear(notes)
        const waiters = yield* Effect.forkChild(
          Effect.forEach(range(3), () => pool.apply(EventWait, { event, notes, timeoutMillis: null }), {
            concurrency: "unbounded"
          })
        )
        yield* eventually(
          Effect.orDie(SharedMap.get(notes, "arrived")),
          (n) => Option.getOrElse(n, () => 0) === 3,
          60_000
        )
        expect(waiters.pollUnsafe()).toBeUndefined()
        yield* IpcEvent.set(event)
        expect(yield* Fiber.join(waiters).pipe(Effect.timeout("60 seconds"))).toEqual([true, true, true])
        expect(yield* IpcEvent.isSet(event)).toBe(true)
        expect(yield* IpcEvent.wait(event, { timeout: 10 })).toBe(true)
        yield* IpcEvent.clear(event)
        expect(yield* IpcEvent.wait(event, { timeout: 10 })).toBe(false)
      }).pipe(Effect.scoped)
    ),
  120_000
)

it.live(
  "IpcBarrier: three processes pass it five times; each round's indexes are 0, 1, 2",
  () =>
    withPool("process", { size: 3 }, (pool) =>
      Effect.gen(function* () {
        const barrier = yield* IpcBarrier.make(3)
        const results = yield* Effect.forEach(range(3), () => pool.apply(BarrierRounds, { barrier, rounds: 5 }), {
          concurrency: "unbounded"
        }).pipe(Effect.timeout("60 seconds"))
        for (const round of range(5)) {
          expect(results.map((indexes) => indexes[round]).sort()).toEqual([0, 1, 2])
        }
        expect(yield* IpcBarrier.broken(barrier)).toBe(false)
      }).pipe(Effect.scoped)
    ),
  120_000
)

it.live(
  "IpcBarrier: a waiting party is SIGKILLed; every waiter fails BrokenBarrier until reset",
  () =>
    Effect.gen(function* () {
      const barrier = yield* IpcBarrier.make(3)
      const victim = yield* Process.start(BarrierRounds, { barrier, rounds: 1 })
      const survivor = yield* Process.start(BarrierRounds, { barrier, rounds: 1 })
      yield* eventually(Effect.orDie(IpcBarrier.waiting(barrier)), (n) => n === 2, 60_000)
      process.kill(victim.pid, "SIGKILL")
      const exit = yield* Effect.exit(survivor.result).pipe(Effect.timeout("60 seconds"))
      expect(failureOf(exit)).toMatchObject({ _tag: "BrokenBarrier", reason: "PartyGone" })
      expect(yield* IpcBarrier.broken(barrier)).toBe(true)
      expect(failureOf(yield* Effect.exit(IpcBarrier.wait(barrier)))).toMatchObject({ _tag: "BrokenBarrier" })
      yield* IpcBarrier.reset(barrier)
      expect(yield* IpcBarrier.broken(barrier)).toBe(false)
      // abort breaks it for a party waiting in the parent too.
      const waiting = yield* Effect.forkChild(Effect.exit(IpcBarrier.wait(barrier)))
      yield* eventually(Effect.orDie(IpcBarrier.waiting(barrier)), (n) => n === 1, 60_000)
      yield* IpcBarrier.abort(barrier)
      expect(failureOf(yield* Fiber.join(waiting))).toMatchObject({ _tag: "BrokenBarrier", reason: "Aborted" })
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  120_000
)

it.live(
  "IpcBarrier: wait's timeout runs in the parent: the round passes for both parties or breaks for both",
  () =>
    Effect.gen(function* () {
      const barrier = yield* IpcBarrier.make(2)
      // Nobody else comes: the child's wait times out, the barrier breaks, and the parent's next wait fails too.
      const alone = yield* Effect.exit(Process.run(BarrierWaitWithin, { barrier, timeoutMillis: 100 })).pipe(
        Effect.timeout("60 seconds")
      )
      expect(failureOf(alone)).toMatchObject({ _tag: "BrokenBarrier", reason: "Timeout" })
      expect(yield* IpcBarrier.broken(barrier)).toBe(true)
      expect(failureOf(yield* Effect.exit(IpcBarrier.wait(barrier)))).toMatchObject({ _tag: "BrokenBarrier" })
      yield* IpcBarrier.reset(barrier)
      // The parent arrives from at once to about the child's 40 ms deadline: whichever comes first in the parent
      // decides for both (with Effect.timeout in the child instead, the child timed out while the parent passed, in
      // 2-4 rounds of 150).
      for (const round of range(20)) {
        const child = yield* Process.start(BarrierWaitWithin, { barrier, timeoutMillis: 40 })
        yield* eventually(Effect.orDie(IpcBarrier.waiting(barrier)), (n) => n === 1, 60_000)
        yield* Effect.sleep(round * 2)
        const parent = yield* Effect.exit(IpcBarrier.wait(barrier, { timeout: "60 seconds" }))
        const theirs = yield* Effect.exit(child.result).pipe(Effect.timeout("60 seconds"))
        expect(Exit.isSuccess(theirs)).toBe(Exit.isSuccess(parent))
        expect(yield* IpcBarrier.broken(barrier)).toBe(Exit.isFailure(parent))
        if (Exit.isSuccess(parent)) expect([parent.value, Exit.isSuccess(theirs) && theirs.value]).toEqual([1, 0])
        yield* IpcBarrier.reset(barrier)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  120_000
)

// A thread cannot be SIGKILLed alone: it ends itself (process.exit in a worker thread), like a crash.
for (const backend of backends) {
  it.live(
    `${backend}: IpcPipe: the child's process or thread exits; the parent receives what it sent, then PipeClosed`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const [mine, theirs] = yield* IpcPipe.make(Schema.String, Schema.String)
          for (const i of range(2)) yield* IpcPipe.send(mine, `parent-${i}`)
          const run = yield* Effect.forkChild(
            Effect.exit(pool.apply(PipeChild, { end: theirs, count: 2, block: false, exit: true }))
          )
          const received = yield* Stream.runCollect(IpcPipe.stream(mine)).pipe(Effect.timeout("60 seconds"))
          expect(received).toEqual(["child-0", "child-1"])
          expect(failureOf(yield* Effect.exit(IpcPipe.receive(mine)))).toMatchObject({ _tag: "PipeClosed" })
          yield* Fiber.interrupt(run)
        }).pipe(Effect.scoped)
      ),
    120_000
  )

  it.live(
    `${backend}: IpcBarrier: a waiting party's process or thread ends; the barrier breaks`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const barrier = yield* IpcBarrier.make(3)
          const die = yield* IpcEvent.make
          const run = yield* Effect.forkChild(Effect.exit(pool.apply(BarrierWaitThenExit, { barrier, die })))
          const mine = yield* Effect.forkChild(Effect.exit(IpcBarrier.wait(barrier)))
          yield* eventually(Effect.orDie(IpcBarrier.waiting(barrier)), (n) => n === 2, 60_000)
          yield* IpcEvent.set(die)
          const exit = yield* Fiber.join(mine).pipe(Effect.timeout("60 seconds"))
          expect(failureOf(exit)).toMatchObject({ _tag: "BrokenBarrier", reason: "PartyGone" })
          yield* Fiber.interrupt(run)
        }).pipe(Effect.scoped)
      ),
    120_000
  )

  it.live(
    `${backend}: IpcBarrier: a party arriving the moment a waiting party's task failed does not pass with the dead`,
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          const barrier = yield* IpcBarrier.make(2)
          const die = yield* IpcEvent.make
          const run = yield* Effect.forkChild(Effect.exit(pool.apply(BarrierWaitThenExit, { barrier, die })))
          yield* eventually(Effect.orDie(IpcBarrier.waiting(barrier)), (n) => n === 1, 60_000)
          yield* IpcEvent.set(die)
          expect(Exit.isFailure(yield* Fiber.join(run))).toBe(true)
          // Before: the dead party's wait was still counted when its task failed, and this wait passed with index 1.
          const exit = yield* Effect.exit(IpcBarrier.wait(barrier)).pipe(Effect.timeout("60 seconds"))
          expect(failureOf(exit)).toMatchObject({ _tag: "BrokenBarrier", reason: "PartyGone" })
        }).pipe(Effect.scoped)
      ),
    120_000
  )
}

it.effect("a wait's timeout that is not a duration of zero or more is an InvalidOption, and nothing waits", () =>
  Effect.gen(function* () {
    const event = yield* IpcEvent.make
    const barrier = yield* IpcBarrier.make(2)
    const queue = yield* IpcQueue.make({ item: Schema.Int, capacity: 1 })
    const defectOf = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.map(Effect.exit(effect), (exit) => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : exit))
    // An event's wait used to die untyped on "banana", and to return false at once on NaN. ({} is Effect's empty
    // DurationObject: zero, as for every duration option.)
    for (const timeout of ["banana", Number.NaN, -1, "-1 seconds"]) {
      const invalid = { _tag: "InvalidOption", option: "timeout" }
      expect(yield* defectOf(IpcEvent.wait(event, { timeout: timeout as never }))).toMatchObject(invalid)
      expect(yield* defectOf(IpcBarrier.wait(barrier, { timeout: timeout as never }))).toMatchObject(invalid)
      expect(yield* defectOf(IpcQueue.offer(queue, 1, { timeout: timeout as never }))).toMatchObject(invalid)
    }
    expect(yield* IpcBarrier.waiting(barrier)).toBe(0)
    expect(yield* IpcQueue.size(queue)).toBe(0)
    // Good ones still work: zero, and Infinity (no bound).
    expect(yield* IpcEvent.wait(event, { timeout: 0 })).toBe(false)
    yield* IpcEvent.set(event)
    expect(yield* IpcEvent.wait(event, { timeout: Number.POSITIVE_INFINITY })).toBe(true)
  }).pipe(Effect.scoped)
)

it.effect(
  "counts that are not counts, flags that are not booleans and a shared array's kind are an InvalidOption; no Schema is a defect saying so",
  () =>
    Effect.gen(function* () {
      const defectOf = <A, E>(made: Effect.Effect<A, E, Scope.Scope>) =>
        Effect.map(Effect.exit(Effect.scoped(made)), (exit) => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : exit))
      // A barrier of NaN parties used to release nobody, ever.
      for (const parties of [Number.NaN, 2.5, Number.POSITIVE_INFINITY, 0]) {
        expect(yield* defectOf(IpcBarrier.make(parties))).toMatchObject({ _tag: "InvalidOption", option: "parties" })
      }
      expect(yield* defectOf(IpcSemaphore.make(0))).toMatchObject({ _tag: "InvalidOption", option: "permits" })
      for (const length of [1.5, Number.NaN, -1]) {
        expect(() => SharedMemory.allocate(Uint8Array, length)).toThrow(
          expect.objectContaining({ _tag: "InvalidOption", option: "length" })
        )
      }
      expect(SharedMemory.allocate(Int32Array, 0).length).toBe(0)
      // A kind that is no typed array used to give whatever its constructor made of the buffer (`[buffer]` for Array).
      expect(() => SharedMemory.allocate(Array as never, 3)).toThrow(
        expect.objectContaining({ _tag: "InvalidOption", option: "kind" })
      )
      // A flag of the wrong kind used to be read as false: a queue that loses items, a lock that is not reentrant.
      const acknowledged = IpcQueue.make({ item: Schema.Int, capacity: 1, acknowledged: "true" as never })
      expect(yield* defectOf(acknowledged)).toMatchObject({ _tag: "InvalidOption", option: "acknowledged" })
      expect(yield* defectOf(IpcLock.make({ reentrant: "yes" as never }))).toMatchObject({
        _tag: "InvalidOption",
        option: "reentrant"
      })
      expect(yield* defectOf(IpcLock.make("reentrant" as never))).toMatchObject({ _tag: "InvalidOption" })
      expect(Exit.isSuccess(yield* Effect.exit(Effect.scoped(IpcLock.make(null as never))))).toBe(true)
      // A value that is no Schema used to die with "Cannot read properties of undefined (reading 'encoding')".
      expect(String(yield* defectOf(SharedRef.make("count" as never, 0)))).toContain("SharedRef.make expects a Schema")
      expect(String(yield* defectOf(SharedMap.make(Schema.String, "count" as never)))).toContain(
        "SharedMap.make expects a key Schema and a value Schema"
      )
    })
)

it.live("closing the scope that made them fails waiting calls with ChannelError, never a hang", () =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const [mine] = yield* IpcPipe.make(Schema.String, Schema.String).pipe(Scope.provide(scope))
    const event = yield* IpcEvent.make.pipe(Scope.provide(scope))
    const barrier = yield* IpcBarrier.make(2).pipe(Scope.provide(scope))
    const waits = yield* Effect.forkChild(
      Effect.all(
        [Effect.exit(IpcPipe.receive(mine)), Effect.exit(IpcEvent.wait(event)), Effect.exit(IpcBarrier.wait(barrier))],
        { concurrency: "unbounded" }
      )
    )
    yield* eventually(Effect.orDie(IpcBarrier.waiting(barrier)), (n) => n === 1, 60_000)
    yield* Scope.close(scope, Exit.void)
    const exits = yield* Fiber.join(waits).pipe(Effect.timeout("60 seconds"))
    for (const exit of exits as ReadonlyArray<Exit.Exit<unknown, unknown>>) {
      expect(failureOf(exit)).toMatchObject({ _tag: "ChannelError", reason: "ServiceClosed" })
    }
  })
)
