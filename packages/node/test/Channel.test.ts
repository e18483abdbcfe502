/**
 * The channel from child to parent on real processes and threads: a task
 * calls a service its parent hosts (typed both ways, in order), an
 * interrupted caller stops the parent's work, a closed service fails typed;
 * actors in one child message actors in another through refs they were sent.
 */
import { it } from "@effect/vitest"
import { type Actor, ActorDirectory, Channel, Keyed, PoolHandle, Supervisor, TroupeError } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Deferred, Effect, Exit, Ref } from "effect"
import { expect } from "vitest"
import { Counter, CounterBehaviour } from "./fixtures/actors.ts"
import {
  LingerWithin,
  PassOnSquare,
  Relay,
  RelayBehaviour,
  Square,
  SumOfSquares,
  Tally,
  TallyAdd,
  TallyFromGrandchild,
  TallyHang,
  TallyInit,
  TallyRefuse,
  TallyThroughPool
} from "./fixtures/channel.ts"
import { Callee, ImportCall } from "./fixtures/importCall.ts"
import { backends, eventually, withPool } from "./fixtures/pool.ts"

/** The count of endpoints this process hosts (core's internal registry, kept on `globalThis` for every copy). */
const Endpoints = {
  size: (): number =>
    (globalThis as unknown as Record<symbol, { endpoints: Map<string, unknown> }>)[
      Symbol.for("@troupe/core/Channel/endpoints")
    ]!.endpoints.size
}

/** Hosts `Tally` in this scope: a running total, `Hang` noting its interruption in `interrupted`. */
const serveTally = (interrupted: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const total = yield* Ref.make(0)
    const handle = yield* Channel.serve(Tally, {
      Add: (n) => Ref.updateAndGet(total, (t) => t + n),
      Hang: () => Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))),
      Refuse: () => Effect.fail(new TroupeError.InputError({ task: "Tally.Refuse", message: "refused" }))
    })
    return { handle, total }
  })

for (const backend of backends) {
  it.live(`${backend}: a task calls its parent's service, in order, typed both ways`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const interrupted = yield* Deferred.make<void>()
        const { handle, total } = yield* serveTally(interrupted)
        expect(yield* pool.apply(TallyAdd, { tally: handle, times: 20 })).toBe(20)
        expect(yield* Ref.get(total)).toBe(20)
        expect(yield* pool.apply(TallyRefuse, { tally: handle })).toBe("InputError:true")
      }).pipe(Effect.scoped)
    )
  )

  it.live(`${backend}: an interrupted call from a child interrupts the parent's work`, () =>
    withPool(backend, { size: 1 }, (pool) =>
      Effect.gen(function* () {
        const interrupted = yield* Deferred.make<void>()
        const { handle } = yield* serveTally(interrupted)
        expect(yield* pool.apply(TallyHang, { tally: handle, ms: 200 })).toBe("gave up")
        const stopped = yield* Deferred.await(interrupted).pipe(Effect.timeoutOption("10 seconds"))
        expect(stopped._tag).toBe("Some")
      }).pipe(Effect.scoped)
    )
  )
}

for (const backend of backends) {
  it.live(`${backend}: a pool initializer calls its parent's service before its worker serves`, () =>
    Effect.gen(function* () {
      const interrupted = yield* Deferred.make<void>()
      const { handle, total } = yield* serveTally(interrupted)
      yield* withPool(
        backend,
        { size: 2, start: "eager", initializer: { task: TallyInit, payload: { tally: handle } } },
        (pool) =>
          Effect.gen(function* () {
            // Both workers ran their initializer (a call to the parent each) before serving a task.
            yield* pool.apply(TallyAdd, { tally: handle, times: 1 })
            yield* pool.apply(TallyAdd, { tally: handle, times: 1 })
            expect(yield* eventually(Ref.get(total), (n) => n === 4)).toBe(4)
          })
      )
    }).pipe(Effect.scoped)
  )
}

for (const backend of backends) {
  for (const start of ["preloaded (tasks)", "loaded on the first run"] as const) {
    it.live(
      `${backend}: a call to the parent from a task module's top level, ${start}, is refused: a ChannelError saying why`,
      () =>
        Effect.gen(function* () {
          const handle = yield* Channel.serve(Callee, { Add: (n) => Effect.succeed(n) })
          const env = { ...process.env, TROUPE_TEST_IMPORT_CALL: handle.endpoint }
          const preload = start === "preloaded (tasks)" ? { tasks: [ImportCall] } : {}
          const got = yield* withPool(backend, { size: 1, env, ...preload }, (pool) =>
            pool.apply(ImportCall, undefined)
          )
          // Refused the same way however the module was loaded (preloaded, the link to the parent was not there yet).
          expect(got).toMatch(/^ChannelError:.*while this child imports its task modules/)
        }).pipe(Effect.scoped),
      60_000
    )
  }
}

it.live("a call after the parent's service closed fails with a typed ChannelError", () =>
  withPool("process", { size: 1 }, (pool) =>
    Effect.gen(function* () {
      const interrupted = yield* Deferred.make<void>()
      const { handle } = yield* serveTally(interrupted).pipe(Effect.scoped)
      const exit = yield* Effect.exit(pool.apply(TallyAdd, { tally: handle, times: 1 }))
      expect(exit).toMatchObject({ _tag: "Failure" })
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      expect(error).toMatchObject({ _tag: "Fail", error: { _tag: "ChannelError", reason: "ServiceClosed" } })
    })
  )
)

/** A counter (mailbox of one) and a relay, each in its own process. */
const withActors = <X, E>(
  f: (
    counter: Actor.ActorRef<typeof Counter>,
    relay: Actor.ActorRef<typeof Relay>,
    sup: Supervisor.Supervisor
  ) => Effect.Effect<X, E>
) =>
  Effect.gen(function* () {
    const sup = yield* Supervisor.start({ intensity: 10, period: "1 minute" }, [
      Supervisor.worker("counter", CounterBehaviour, { mailbox: { capacity: 1 } }),
      Supervisor.worker("relay", RelayBehaviour)
    ])
    return yield* f(sup.ref("counter", Counter), sup.ref("relay", Relay), sup)
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))

it.live("an actor in one child asks an actor in another; tells arrive in order; a ref comes back as itself", () =>
  withActors((counter, relay) =>
    Effect.gen(function* () {
      expect(yield* relay.ask("AskIncrement", { target: counter, by: 2 })).toBe(2)
      expect(yield* relay.ask("AskIncrement", { target: counter, by: 3 })).toBe(5)
      expect(yield* counter.ask("Get", undefined)).toBe(5)
      yield* relay.ask("TellMany", { target: counter, sender: 3, count: 200 })
      const log = yield* counter.ask("Log", undefined)
      expect(log).toEqual(Array.from({ length: 200 }, (_, seq) => [3, seq]))
      expect(yield* relay.ask("Echo", { target: counter })).toBe(counter)
    })
  )
)

it.live("a relayed message the target's Schema refuses is a typed error for its sender, and never runs", () =>
  withActors((counter, relay) =>
    Effect.gen(function* () {
      // The parent passes the message through encoded: the counter's own child decodes it and refuses it.
      expect(yield* relay.ask("AskBadPayload", { target: counter })).toBe("RemoteDefect:RequestValidationError")
      expect(yield* counter.ask("Get", undefined)).toBe(0)
    })
  )
)

it.live("sending 10,000 refs hosts one endpoint per actor, reused, released when its supervisor stops", () =>
  Effect.gen(function* () {
    const before = Endpoints.size()
    yield* withActors((_counter, relay, sup) =>
      Effect.gen(function* () {
        // A fresh ref object each time, as code that sends refs in a loop makes them.
        const targets = Array.from({ length: 10_000 }, () => sup.ref("counter", Counter))
        const back = yield* relay.ask("EchoAll", { targets })
        expect(back.length).toBe(10_000)
        expect(Endpoints.size() - before).toBe(1)
        // The refs still reach the actor, from the child and back in the parent.
        expect(yield* relay.ask("AskIncrement", { target: sup.ref("counter", Counter), by: 2 })).toBe(2)
        expect(yield* back[9_999]!.ask("Increment", { by: 1 })).toBe(3)
        expect(Endpoints.size() - before).toBe(1)
      })
    )
    expect(Endpoints.size()).toBe(before)
  })
)

it("Channel.isCallError tells the call's own failures from a method's typed error", () => {
  const callErrors = [
    new TroupeError.ChannelError({ service: "s", method: "m", reason: "ServiceClosed", message: "closed" }),
    new TroupeError.RequestValidationError({ task: "s.m", message: "bad" }),
    new TroupeError.PayloadTooLarge({ task: "s.m", direction: "payload", size: 2, limit: 1 })
  ]
  for (const error of callErrors) expect(Channel.isCallError(error), error._tag).toBe(true)
  const others = [new TroupeError.BrokenBarrier({ reason: "Aborted", message: "" }), { _tag: "Other" }, null, "x"]
  for (const other of others) expect(Channel.isCallError(other)).toBe(false)
})

it.live(
  "an offer whose wait is not a duration of zero or more is an InvalidOption, from the parent or a child; nothing is sent",
  () =>
    withActors((counter, relay) =>
      Effect.gen(function* () {
        for (const wait of [-5, Number.NaN, "abc", null]) {
          // Refused before the mailbox is looked at: with room in it (as here), and when full (below).
          const local = yield* Effect.flip(counter.offer("Increment", { by: 1 }, { wait: wait as number }))
          expect(local).toMatchObject({ _tag: "InvalidOption", option: "wait" })
          // NaN is no JSON value: a child cannot be sent one.
          if (!Number.isNaN(wait))
            expect(yield* relay.ask("OfferWith", { target: counter, wait })).toBe("InvalidOption")
        }
        expect(yield* counter.ask("Get", undefined)).toBe(0)
        // The counter's mailbox (one place) is taken: a bad wait used to reach the mailbox's timer and die there.
        yield* counter.tell("Sleep", { ms: 1000 })
        const full = yield* Effect.flip(counter.offer("Increment", { by: 1 }, { wait: "abc" as never }))
        expect(full).toMatchObject({ _tag: "InvalidOption", option: "wait" })
        expect(yield* relay.ask("OfferWith", { target: counter, wait: "abc" })).toBe("InvalidOption")
        expect(yield* relay.ask("OfferWith", { target: counter, wait: 0 })).toBe("MailboxFull")
        expect(yield* counter.ask("Get", undefined)).toBe(0)
      })
    )
)

it.live("an interrupted ask from a child is cancelled in the parent: the message never reaches the actor", () =>
  withActors((counter, relay) =>
    Effect.gen(function* () {
      // The counter's mailbox (one place) is taken by a long message: the relay's ask waits for room in the parent.
      yield* counter.tell("Sleep", { ms: 4000 })
      expect(yield* relay.ask("AskRecord", { target: counter, sender: 7, seq: 0, ms: 300 })).toBe("gave up")
      // Had the parent kept the ask waiting, it would take the room first and run before this one.
      expect(yield* counter.ask("Log", undefined)).toEqual([])
    })
  )
)

it.live("an ask from a child whose target crashed gets the typed ActorDied", () =>
  withActors((counter, relay) =>
    Effect.gen(function* () {
      expect(yield* relay.ask("AskCrash", { target: counter })).toBe("ActorDied:true")
    })
  )
)

for (const backend of backends) {
  it.live(`${backend}: a task submits tasks to the pool its parent passed it`, () =>
    withPool(backend, { size: 3 }, (pool) =>
      Effect.gen(function* () {
        const handle = yield* PoolHandle.make(pool)
        expect(yield* pool.apply(SumOfSquares, { pool: handle, numbers: [1, 2, 3, 4] })).toBe("30")
        // A fan-out deeper than the pool: the parent never queues a nested task in the worker that waits for it.
        const many = Array.from({ length: 40 }, (_, i) => i + 1)
        expect(yield* pool.apply(SumOfSquares, { pool: handle, numbers: many })).toBe(
          String(many.reduce((sum, n) => sum + n * n, 0))
        )
        // The nested task's typed error reaches the child decoded, as its own class.
        expect(yield* pool.apply(SumOfSquares, { pool: handle, numbers: [1, -2] })).toBe("InputError:true")
      }).pipe(Effect.scoped)
    )
  )

  it.live(`${backend}: a nested call takes its own options: a timeout the task does not have, a bad one refused`, () =>
    withPool(backend, { size: 2 }, (pool) =>
      Effect.gen(function* () {
        const handle = yield* PoolHandle.make(pool)
        // `Linger` has no timeout of its own: the call's bounds it, and only it.
        expect(yield* pool.apply(LingerWithin, { pool: handle, ms: 60_000, timeout: "200 millis" })).toBe("TaskTimeout")
        expect(yield* pool.apply(LingerWithin, { pool: handle, ms: 10, timeout: "30 seconds" })).toBe("10")
        expect(yield* pool.apply(LingerWithin, { pool: handle, ms: 10, timeout: "Infinity" })).toBe("10")
        // Refused in the child, where it was given, before anything is sent.
        expect(yield* pool.apply(LingerWithin, { pool: handle, ms: 10, timeout: "banana" })).toBe("InvalidOption")
      }).pipe(Effect.scoped)
    )
  )

  it.live(`${backend}: a nested task's typed error, passed on, carries the stack of the task that raised it`, () =>
    withPool(backend, { size: 2 }, (pool) =>
      Effect.gen(function* () {
        const handle = yield* PoolHandle.make(pool)
        const direct = yield* Effect.flip(pool.apply(Square, -1))
        const passedOn = yield* Effect.flip(pool.apply(PassOnSquare, { pool: handle, n: -2 }))
        expect(passedOn).toBeInstanceOf(TroupeError.InputError)
        expect(passedOn.message).toBe("-2")
        const stackOf = (error: Error) => String((error.cause as Error | undefined)?.stack)
        // Where `Square` raised it, as for the error of a direct call; not where the middle task decoded it.
        expect(stackOf(direct)).toContain("channel.ts")
        expect(stackOf(passedOn)).toContain("channel.ts")
        expect(stackOf(passedOn)).not.toContain("makeClassTrusted")
      }).pipe(Effect.scoped)
    )
  )
}

for (const backend of backends) {
  it.live(`${backend}: a grandchild's call goes up through its parent, started from a bundle, to the service`, () =>
    withPool(backend, { size: 1, tasks: [TallyFromGrandchild] }, (pool) =>
      Effect.gen(function* () {
        const interrupted = yield* Deferred.make<void>()
        const { handle, total } = yield* serveTally(interrupted)
        expect(yield* pool.apply(TallyFromGrandchild, { tally: handle, times: 5 })).toBe(5)
        expect(yield* Ref.get(total)).toBe(5)
      }).pipe(Effect.scoped)
    )
  )

  it.live(`${backend}: bundled worker -> its own ${backend} pool -> a grandchild calling two levels up`, () =>
    withPool(backend, { size: 1, tasks: [TallyThroughPool] }, (pool) =>
      Effect.gen(function* () {
        const interrupted = yield* Deferred.make<void>()
        const { handle, total } = yield* serveTally(interrupted)
        const result = yield* pool.apply(TallyThroughPool, { tally: handle, times: 4, backend })
        expect(result.total).toBe(4)
        // The middle level really ran from a bundle (the default when the pool knows its tasks).
        if (backend === "process") expect(result.bundled).toBe(true)
        expect(yield* Ref.get(total)).toBe(4)
      }).pipe(Effect.scoped)
    )
  )
}

it.live("an actor looks another up by its path in the supervision tree", () =>
  withActors((counter, relay, sup) =>
    Effect.gen(function* () {
      const directory = yield* ActorDirectory.ofSupervisor(sup)
      expect(yield* relay.ask("LookupIncrement", { directory, path: "counter", by: 4 })).toBe(4)
      expect(yield* relay.ask("LookupIncrement", { directory, path: "counter", by: 1 })).toBe(5)
      expect(yield* counter.ask("Get", undefined)).toBe(5)
      // No worker there, and a worker of another actor type: none.
      expect(yield* relay.ask("LookupIncrement", { directory, path: "nobody", by: 1 })).toBe(-1)
      expect(yield* relay.ask("LookupIncrement", { directory, path: "relay", by: 1 })).toBe(-1)
    }).pipe(Effect.scoped)
  )
)

it.live("an actor looks up a keyed actor by its key", () =>
  withActors((_counter, relay) =>
    Effect.gen(function* () {
      const counters = yield* Keyed.make(CounterBehaviour, { hosts: 1 }).pipe(Effect.provide(NodeProcess.layer))
      const directory = yield* ActorDirectory.ofKeyed(counters)
      expect(yield* relay.ask("LookupIncrement", { directory, path: "user-1", by: 3 })).toBe(3)
      expect(yield* relay.ask("LookupIncrement", { directory, path: "user-2", by: 1 })).toBe(1)
      expect(yield* relay.ask("LookupIncrement", { directory, path: "user-1", by: 1 })).toBe(4)
      expect(yield* counters.get("user-1").ask("Get", undefined)).toBe(4)
    }).pipe(Effect.scoped)
  )
)
