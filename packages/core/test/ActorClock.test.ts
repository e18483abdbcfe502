/**
 * The actor cell (the parent side of one actor: its mailbox, its place in a
 * hosting child, its last persisted state) in memory: supervised workers and
 * keyed groups over `TestTransport` under `TestClock`. Mailbox order, ask
 * timeouts, a full mailbox, crash retries, idle passivation and what a
 * restart keeps of the actor's state are exact here, with no real process
 * and no real wait. The handlers run in this
 * process (an in-memory child's runner), so they record what they saw in
 * `handled`, which the tests read.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Keyed, Supervisor, TestTransport, Transport } from "@troupe/core"
import { Effect, Exit, Fiber, Ref, Schema, Scope } from "effect"
import { Rpc } from "effect/rpc"
import { TestClock } from "effect/testing"
import { closeDriven, joinSoon, settle, until, untilEffect } from "./fixtures/clock.ts"

/** A list of numbers: `Put` appends one, `Get` reads them, `Hang` never answers, `Fail` fails with a typed error. */
const box = <const Name extends string>(name: Name) =>
  Actor.make(name, [
    Rpc.make("Put", { payload: { n: Schema.Int }, success: Schema.Int }),
    Rpc.make("Get", { success: Schema.Array(Schema.Int) }),
    Rpc.make("Hang", {}),
    Rpc.make("Flaky", { success: Schema.Int }),
    Rpc.make("Fail", { error: Schema.String })
  ] as const)

/** What every instance handled, in order (`<actor> <message>`), across restarts. */
const handled: Array<string> = []
/** How many times `Flaky` started: its odd runs never end; even ones answer with their number. */
let flakyRuns = 0

const handlers = (name: string, items: Ref.Ref<ReadonlyArray<number>>) => ({
  Put: ({ payload }: { readonly payload: { readonly n: number } }) =>
    Effect.andThen(
      Effect.sync(() => handled.push(`${name} Put ${payload.n}`)),
      Ref.updateAndGet(items, (all) => [...all, payload.n]).pipe(Effect.map((all) => all.length))
    ),
  Get: () => Ref.get(items),
  Hang: () =>
    Effect.andThen(
      Effect.sync(() => handled.push(`${name} Hang`)),
      Effect.never
    ),
  Flaky: () =>
    Effect.suspend(() => {
      const run = ++flakyRuns
      handled.push(`${name} Flaky ${run}`)
      return run % 2 === 1 ? Effect.never : Effect.succeed(run)
    }),
  Fail: () => Effect.fail("refused")
})

/** State in a `Ref`: it starts empty with every instance. */
const Volatile = box("ActorClock.test/Volatile")
const VolatileBehaviour = Actor.behaviour(
  Volatile,
  Effect.map(Ref.make<ReadonlyArray<number>>([]), (items) => handlers("Volatile", items))
)

/** State in a `persistedRef`: a new instance starts from the last answered message's snapshot. */
const Persisted = box("ActorClock.test/Persisted")
const PersistedBehaviour = Actor.behaviour(
  Persisted,
  Effect.map(Actor.persistedRef(Schema.Array(Schema.Int), []), (items) => handlers("Persisted", items))
)

/** A typed failure builds the instance again (`onFailure: "restart"`). */
const Restarting = box("ActorClock.test/Restarting")
const RestartingBehaviour = Actor.behaviour(
  Restarting,
  Effect.map(Ref.make<ReadonlyArray<number>>([]), (items) => handlers("Restarting", items)),
  { onFailure: "restart" }
)

/** A tree of `children` over a fresh in-memory transport; its shutdown follows the test clock. */
const withTree = <A, E>(
  options: Supervisor.Options,
  children: ReadonlyArray<Supervisor.ChildSpec>,
  body: (sup: Supervisor.Supervisor, test: TestTransport.TestTransport) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    handled.length = 0
    flakyRuns = 0
    const test = TestTransport.make()
    const scope = yield* Scope.make()
    const sup = yield* Supervisor.start({ intensity: 10, ...options }, children).pipe(
      Scope.provide(scope),
      Effect.provideService(Transport.Transport, test.transport)
    )
    const result = yield* body(sup, test)
    yield* closeDriven(scope)
    return result
  })

/** The pid of the worker at `id`, `null` while it is not running. */
const pidOf = (sup: Supervisor.Supervisor, id: string) =>
  Effect.map(sup.whichChildren, (children) => {
    const child = children.find((candidate) => candidate.id === id)
    return child?.status === "running" ? child.pid : null
  })

/** Crashes the worker at `id` (its process exits with code 1) and returns its pid. */
const crash = (sup: Supervisor.Supervisor, test: TestTransport.TestTransport, id: string) =>
  Effect.gen(function* () {
    const pid = yield* pidOf(sup, id)
    test.children.find((child) => child.pid === pid)!.exit({ code: 1, signal: null })
    return pid
  })

/** Waits until the worker at `id` runs again in a process other than `pid`. */
const untilRestarted = (sup: Supervisor.Supervisor, id: string, pid: number | null) =>
  untilEffect(pidOf(sup, id), (now) => now !== null && now !== pid)

/** Asks `Hang` (it never ends) and waits until the instance runs it: from then on it holds a place. */
const hangIn = (ref: Actor.ActorRef<typeof Volatile>) =>
  Effect.gen(function* () {
    const hang = yield* Effect.forkChild(Effect.exit(ref.ask("Hang", undefined)))
    yield* until(() => handled.includes("Volatile Hang"))
    return hang
  })

describe("the actor cell over TestTransport, under TestClock", () => {
  it.effect("an actor handles its messages one at a time, in mailbox order", () =>
    withTree({}, [Supervisor.worker("v", VolatileBehaviour)], (sup) =>
      Effect.gen(function* () {
        const ref = sup.ref("v", Volatile)
        const numbers = Array.from({ length: 20 }, (_, i) => i + 1)
        // `tell` returns once the message is in the mailbox; the ask after them is answered after all of them.
        for (const n of numbers) yield* ref.tell("Put", { n })
        expect(yield* ref.ask("Get", undefined)).toEqual(numbers)
        expect(handled).toEqual(numbers.map((n) => `Volatile Put ${n}`))
      })
    )
  )

  it.effect("an ask times out exactly askTimeout after its call, however long it waited behind another", () =>
    withTree({}, [Supervisor.worker("v", VolatileBehaviour, { mailbox: { askTimeout: "5 seconds" } })], (sup, test) =>
      Effect.gen(function* () {
        const ref = sup.ref("v", Volatile)
        const hang = yield* Effect.forkChild(Effect.exit(ref.ask("Hang", undefined)))
        yield* until(() => handled.includes("Volatile Hang"))
        yield* TestClock.adjust("2 seconds")
        // Behind the message that never ends: its 5 seconds run from now.
        const put = yield* Effect.forkChild(Effect.exit(ref.ask("Put", { n: 1 })))
        yield* settle
        expect(yield* ref.depth).toBe(2)
        yield* TestClock.adjust("2999 millis")
        yield* settle
        expect(hang.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        expect(Exit.findErrorOption(yield* joinSoon(hang))).toMatchObject({
          value: { _tag: "AskTimeout", tag: "Hang", timeoutMs: 5000 }
        })
        yield* TestClock.adjust("1999 millis")
        yield* settle
        expect(put.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        expect(Exit.findErrorOption(yield* joinSoon(put))).toMatchObject({
          value: { _tag: "AskTimeout", tag: "Put", timeoutMs: 5000 }
        })
        // Both were sent to the child: they keep their places until answered (into the void), as documented.
        expect(yield* ref.depth).toBe(2)
        const pid = yield* crash(sup, test, "v")
        yield* untilRestarted(sup, "v", pid)
        expect(yield* ref.ask("Get", undefined)).toEqual([1])
        expect(yield* ref.depth).toBe(0)
      })
    )
  )

  it.effect("an ask that times out while its message waits for a restarting actor withdraws it: it never runs", () =>
    withTree(
      { backoff: { min: "10 seconds", max: "10 seconds", randomFactor: 0 } },
      [Supervisor.worker("v", VolatileBehaviour, { mailbox: { askTimeout: "5 seconds" } })],
      (sup, test) =>
        Effect.gen(function* () {
          const ref = sup.ref("v", Volatile)
          const pid = yield* crash(sup, test, "v")
          yield* untilEffect(pidOf(sup, "v"), (now) => now === null)
          const put = yield* Effect.forkChild(Effect.exit(ref.ask("Put", { n: 1 })))
          yield* settle
          expect(yield* ref.depth).toBe(1)
          yield* TestClock.adjust("5 seconds")
          expect(Exit.findErrorOption(yield* joinSoon(put))).toMatchObject({
            value: { _tag: "AskTimeout", tag: "Put", timeoutMs: 5000 }
          })
          expect(yield* ref.depth).toBe(0)
          yield* TestClock.adjust("5 seconds")
          yield* untilRestarted(sup, "v", pid)
          expect(yield* ref.ask("Get", undefined)).toEqual([])
          expect(handled).toEqual([])
        })
    )
  )

  it.effect("a full mailbox: offer fails at once, offer with a wait fails exactly then, tell waits its turn", () =>
    withTree(
      {},
      [Supervisor.worker("v", VolatileBehaviour, { mailbox: { capacity: 2, askTimeout: "1 day" } })],
      (sup, test) =>
        Effect.gen(function* () {
          const ref = sup.ref("v", Volatile)
          const hang = yield* hangIn(ref)
          yield* ref.tell("Put", { n: 1 })
          expect(yield* ref.depth).toBe(2)
          expect(Exit.findErrorOption(yield* Effect.exit(ref.offer("Put", { n: 2 })))).toMatchObject({
            value: { _tag: "MailboxFull", capacity: 2 }
          })
          const offered = yield* Effect.forkChild(Effect.exit(ref.offer("Put", { n: 2 }, { wait: "1 second" })))
          const told = yield* Effect.forkChild(ref.tell("Put", { n: 3 }))
          yield* TestClock.adjust("999 millis")
          yield* settle
          expect(offered.pollUnsafe()).toBeUndefined()
          yield* TestClock.adjust("1 millis")
          expect(Exit.findErrorOption(yield* joinSoon(offered))).toMatchObject({
            value: { _tag: "MailboxFull", capacity: 2 }
          })
          // `tell` still waits for room, however long.
          yield* TestClock.adjust("1 hour")
          yield* settle
          expect(told.pollUnsafe()).toBeUndefined()
          // The crash fails the message that was running and makes room; the waiting `tell` gets in, and the
          // queued messages run, in order, on the next instance.
          const pid = yield* crash(sup, test, "v")
          expect(Exit.findErrorOption(yield* joinSoon(hang))).toMatchObject({ value: { _tag: "ActorDied" } })
          yield* joinSoon(told)
          yield* untilRestarted(sup, "v", pid)
          expect(yield* ref.ask("Get", undefined)).toEqual([1, 3])
        })
    )
  )

  it.effect("senders beyond capacity wait in the order they came; while they wait, offer fails at once", () =>
    withTree(
      {},
      [Supervisor.worker("v", VolatileBehaviour, { mailbox: { capacity: 2, askTimeout: "1 day" } })],
      (sup, test) =>
        Effect.gen(function* () {
          const ref = sup.ref("v", Volatile)
          const hang = yield* hangIn(ref)
          yield* ref.tell("Put", { n: 1 })
          // Full: each `tell` joins the line, one after the other.
          const told = []
          for (const n of [2, 3, 4, 5]) {
            told.push(yield* Effect.forkChild(ref.tell("Put", { n })))
            yield* settle
          }
          expect(told.map((fiber) => fiber.pollUnsafe())).toEqual([undefined, undefined, undefined, undefined])
          expect(yield* ref.depth).toBe(2)
          // While they wait, `offer` fails at once: a place that frees up is theirs.
          expect(Exit.findErrorOption(yield* Effect.exit(ref.offer("Put", { n: 6 })))).toMatchObject({
            value: { _tag: "MailboxFull", capacity: 2 }
          })
          // The crash frees the running message's place: the line moves up as the next instance answers.
          const pid = yield* crash(sup, test, "v")
          expect(Exit.findErrorOption(yield* joinSoon(hang))).toMatchObject({ value: { _tag: "ActorDied" } })
          yield* untilRestarted(sup, "v", pid)
          for (const fiber of told) yield* joinSoon(fiber)
          expect(yield* ref.ask("Get", undefined)).toEqual([1, 2, 3, 4, 5])
          expect(yield* ref.depth).toBe(0)
        })
    )
  )

  it.effect("a sender interrupted in line leaves no trace: no place taken, its message never runs", () =>
    withTree(
      {},
      [Supervisor.worker("v", VolatileBehaviour, { mailbox: { capacity: 1, askTimeout: "1 day" } })],
      (sup, test) =>
        Effect.gen(function* () {
          const ref = sup.ref("v", Volatile)
          const hang = yield* hangIn(ref)
          const first = yield* Effect.forkChild(ref.tell("Put", { n: 1 }))
          yield* settle
          const offered = yield* Effect.forkChild(Effect.exit(ref.offer("Put", { n: 2 }, { wait: "1 second" })))
          yield* settle
          const third = yield* Effect.forkChild(ref.ask("Put", { n: 3 }))
          yield* settle
          // The first in line gives up, and the offer's wait runs out: both leave the line, the third stays.
          yield* Fiber.interrupt(first)
          yield* TestClock.adjust("1 second")
          expect(Exit.findErrorOption(yield* joinSoon(offered))).toMatchObject({
            value: { _tag: "MailboxFull", capacity: 1 }
          })
          expect(third.pollUnsafe()).toBeUndefined()
          expect(yield* ref.depth).toBe(1)
          const pid = yield* crash(sup, test, "v")
          expect(Exit.findErrorOption(yield* joinSoon(hang))).toMatchObject({ value: { _tag: "ActorDied" } })
          yield* untilRestarted(sup, "v", pid)
          expect(yield* joinSoon(third)).toBe(1)
          expect(yield* ref.ask("Get", undefined)).toEqual([3])
          expect(handled.filter((line) => line.startsWith("Volatile Put"))).toEqual(["Volatile Put 3"])
          // Every place is back: the mailbox takes `capacity` messages at once again.
          expect(yield* ref.depth).toBe(0)
          yield* ref.offer("Put", { n: 4 })
          expect(yield* ref.ask("Get", undefined)).toEqual([3, 4])
        })
    )
  )

  it.effect("while the actor restarts, a message beyond stashCapacity fails at once with MailboxFull", () =>
    withTree(
      { backoff: { min: "1 second", max: "1 second", randomFactor: 0 } },
      [Supervisor.worker("v", VolatileBehaviour, { mailbox: { stashCapacity: 1 } })],
      (sup, test) =>
        Effect.gen(function* () {
          const ref = sup.ref("v", Volatile)
          const pid = yield* crash(sup, test, "v")
          yield* untilEffect(pidOf(sup, "v"), (now) => now === null)
          yield* settle
          yield* ref.tell("Put", { n: 1 })
          expect(Exit.findErrorOption(yield* Effect.exit(ref.tell("Put", { n: 2 })))).toMatchObject({
            value: { _tag: "MailboxFull", capacity: 1 }
          })
          yield* TestClock.adjust("1 second")
          yield* untilRestarted(sup, "v", pid)
          expect(yield* ref.ask("Get", undefined)).toEqual([1])
        })
    )
  )

  it.effect("a crash: state in a Ref starts again; a persistedRef keeps every answered message", () =>
    withTree({}, [Supervisor.worker("v", VolatileBehaviour), Supervisor.worker("p", PersistedBehaviour)], (sup, test) =>
      Effect.gen(function* () {
        const volatile = sup.ref("v", Volatile)
        const persisted = sup.ref("p", Persisted)
        for (const n of [1, 2]) {
          yield* volatile.ask("Put", { n })
          yield* persisted.ask("Put", { n })
        }
        // A message running when the process dies is not in the snapshot.
        const hang = yield* Effect.forkChild(Effect.exit(persisted.ask("Hang", undefined)))
        yield* until(() => handled.includes("Persisted Hang"))
        const volatilePid = yield* crash(sup, test, "v")
        const persistedPid = yield* crash(sup, test, "p")
        expect(Exit.findErrorOption(yield* joinSoon(hang))).toMatchObject({ value: { _tag: "ActorDied" } })
        yield* untilRestarted(sup, "v", volatilePid)
        yield* untilRestarted(sup, "p", persistedPid)
        expect(yield* volatile.ask("Get", undefined)).toEqual([])
        expect(yield* persisted.ask("Get", undefined)).toEqual([1, 2])
      })
    )
  )

  it.effect(
    "mailbox retries: the message a crash interrupted runs again on the next instance; without, ActorDied",
    () =>
      withTree(
        {},
        [
          Supervisor.worker("retried", VolatileBehaviour, { mailbox: { retries: 1 } }),
          Supervisor.worker("once", PersistedBehaviour)
        ],
        (sup, test) =>
          Effect.gen(function* () {
            const retried = sup.ref("retried", Volatile)
            const flaky = yield* Effect.forkChild(retried.ask("Flaky", undefined))
            yield* until(() => handled.includes("Volatile Flaky 1"))
            yield* crash(sup, test, "retried")
            expect(yield* joinSoon(flaky)).toBe(2)
            const once = sup.ref("once", Persisted)
            const failed = yield* Effect.forkChild(Effect.exit(once.ask("Flaky", undefined)))
            yield* until(() => handled.includes("Persisted Flaky 3"))
            yield* crash(sup, test, "once")
            expect(Exit.findErrorOption(yield* joinSoon(failed))).toMatchObject({ value: { _tag: "ActorDied" } })
            expect(handled).toEqual(["Volatile Flaky 1", "Volatile Flaky 2", "Persisted Flaky 3"])
          })
      )
  )

  it.effect("a typed failure: onFailure resume keeps the state; restart builds the instance again", () =>
    withTree(
      {},
      [Supervisor.worker("resume", VolatileBehaviour), Supervisor.worker("restart", RestartingBehaviour)],
      (sup) =>
        Effect.gen(function* () {
          const resume = sup.ref("resume", Volatile)
          const restart = sup.ref("restart", Restarting)
          const pids = [yield* pidOf(sup, "resume"), yield* pidOf(sup, "restart")]
          yield* resume.ask("Put", { n: 1 })
          yield* restart.ask("Put", { n: 1 })
          expect(Exit.findErrorOption(yield* Effect.exit(resume.ask("Fail", undefined)))).toMatchObject({
            value: "refused"
          })
          expect(Exit.findErrorOption(yield* Effect.exit(restart.ask("Fail", undefined)))).toMatchObject({
            value: "refused"
          })
          expect(yield* resume.ask("Get", undefined)).toEqual([1])
          expect(yield* restart.ask("Get", undefined)).toEqual([])
          // Rebuilt in place: the process and the supervisor's count are unchanged.
          expect([yield* pidOf(sup, "resume"), yield* pidOf(sup, "restart")]).toEqual(pids)
        })
    )
  )

  it.effect("handOver waits for the key's mailbox to empty (an event, no clock), then stops the instance", () =>
    Effect.gen(function* () {
      handled.length = 0
      const test = TestTransport.make()
      const scope = yield* Scope.make()
      const group = yield* Keyed.make(VolatileBehaviour, { hosts: 1 }).pipe(
        Scope.provide(scope),
        Effect.provideService(Transport.Transport, test.transport)
      )
      yield* group.get("a").ask("Put", { n: 1 })
      const hang = yield* hangIn(group.get("a"))
      const handOver = yield* Effect.forkChild(group.handOver("a", undefined))
      // The test clock does not move: only the mailbox emptying can let it go on.
      yield* settle
      expect(handOver.pollUnsafe()).toBeUndefined()
      const [pid] = yield* group.pids
      test.children.find((child) => child.pid === pid)!.exit({ code: 1, signal: null })
      expect(Exit.findErrorOption(yield* joinSoon(hang))).toMatchObject({ value: { _tag: "ActorDied" } })
      yield* joinSoon(handOver)
      expect(yield* group.activeKeys).toEqual([])
      yield* closeDriven(scope)
    })
  )

  it.effect("senders waiting in line when their group stops fail with ActorDied", () =>
    Effect.gen(function* () {
      handled.length = 0
      const test = TestTransport.make()
      const scope = yield* Scope.make()
      const group = yield* Keyed.make(VolatileBehaviour, { hosts: 1, mailbox: { capacity: 1 } }).pipe(
        Scope.provide(scope),
        Effect.provideService(Transport.Transport, test.transport)
      )
      const ref = group.get("a")
      const hang = yield* hangIn(ref)
      const waiting = []
      for (const n of [1, 2]) {
        waiting.push(yield* Effect.forkChild(Effect.exit(ref.tell("Put", { n }))))
        yield* settle
      }
      yield* closeDriven(scope)
      expect(Exit.isFailure(yield* joinSoon(hang))).toBe(true)
      // The first may have got the place the hanging message left (a `tell` then returns), the second has not.
      yield* joinSoon(waiting[0]!)
      expect(Exit.findErrorOption(yield* joinSoon(waiting[1]!))).toMatchObject({ value: { _tag: "ActorDied" } })
      expect(handled).toEqual(["Volatile Hang"])
    })
  )

  it.effect("a keyed instance idle for idleTimeout passivates; its next message starts it from its snapshot", () =>
    Effect.gen(function* () {
      handled.length = 0
      const test = TestTransport.make()
      const scope = yield* Scope.make()
      const [volatile, persisted] = yield* Effect.all([
        Keyed.make(VolatileBehaviour, { hosts: 1, idleTimeout: "10 seconds" }),
        Keyed.make(PersistedBehaviour, { hosts: 1, idleTimeout: "10 seconds" })
      ]).pipe(Scope.provide(scope), Effect.provideService(Transport.Transport, test.transport))
      yield* volatile.get("a").ask("Put", { n: 1 })
      yield* persisted.get("a").ask("Put", { n: 1 })
      expect([yield* volatile.activeKeys, yield* persisted.activeKeys]).toEqual([["a"], ["a"]])
      // Not before idleTimeout; by 1.5 times it (the groups look for idle instances every half idleTimeout).
      yield* TestClock.adjust("9999 millis")
      yield* settle
      expect([yield* volatile.activeKeys, yield* persisted.activeKeys]).toEqual([["a"], ["a"]])
      yield* TestClock.adjust("5001 millis")
      yield* untilEffect(
        Effect.all([volatile.activeKeys, persisted.activeKeys]),
        ([v, p]) => v.length === 0 && p.length === 0
      )
      expect(yield* volatile.get("a").ask("Get", undefined)).toEqual([])
      expect(yield* persisted.get("a").ask("Get", undefined)).toEqual([1])
      yield* closeDriven(scope)
    })
  )
})
