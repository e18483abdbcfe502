/**
 * Actors on real processes: state across messages and restarts, mailbox
 * order, validation on both sides, backpressure, and messages sent while an
 * actor restarts (S39-S43 of shared/semantics.md).
 */
import { it } from "@effect/vitest"
import { type Actor, Supervisor, Transport } from "@troupe/core"
import { NodeProcess, NodeThread } from "@troupe/node"
import { Effect, Exit, Fiber } from "effect"
import { expect } from "vitest"
import { Counter, CounterBehaviour, PersistentBehaviour, RestartingBehaviour } from "./fixtures/actors.ts"
import { eventually, tempFile } from "./fixtures/pool.ts"

/** One supervised worker running `behaviour`, and a client of it. */
const withActor = <A extends Actor.Any, X, E>(
  behaviour: Actor.Behaviour<A>,
  options: { readonly mailbox?: Actor.MailboxOptions; readonly supervisor?: Supervisor.Options },
  f: (ref: Actor.ActorRef<A>, sup: Supervisor.Supervisor) => Effect.Effect<X, E>
) =>
  Effect.gen(function* () {
    const sup = yield* Supervisor.start({ intensity: 10, period: "1 minute", ...options.supervisor }, [
      Supervisor.worker("actor", behaviour, { mailbox: options.mailbox })
    ])
    return yield* f(sup.ref("actor", behaviour.actor), sup)
  }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))

const failureTag = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? (reason.error as { _tag: string })._tag : reason?._tag
}

it.live(
  "a supervised worker's crash fails only the message that crashed it: the messages sent with it never ran, and run once on the new instance",
  () =>
    withActor(CounterBehaviour, {}, (counter) =>
      Effect.gen(function* () {
        for (let round = 0; round < 3; round++) {
          // Sent together: the child has them all when `Die` ends its process, and runs none of the others.
          const [died, ...increments] = yield* Effect.all(
            [
              Effect.exit(counter.ask("Die", undefined)),
              ...[1, 2, 3].map((by) => Effect.exit(counter.ask("Increment", { by })))
            ],
            { concurrency: "unbounded" }
          )
          expect(failureTag(died!)).toBe("RemoteDefect")
          // Each ran once, in order, on the fresh instance: 1, 1 + 2, 1 + 2 + 3.
          expect(increments).toEqual([Exit.succeed(1), Exit.succeed(3), Exit.succeed(6)])
        }
      })
    ),
  60_000
)

it.live(
  "onFailure restart, whose rebuild fails: the next message builds it again; failing again, it is a crash that ends the process and the supervisor restarts it",
  () => {
    const starts = tempFile("starts")
    return Effect.gen(function* () {
      // Start 1 succeeds; the rebuild after the typed failure (start 2) and the next message's build (start 3) fail.
      const sup = yield* Supervisor.start({ intensity: 10, period: "1 minute" }, [
        Supervisor.worker("actor", RestartingBehaviour, {
          env: { TROUPE_FIXTURE_START_COUNT: starts, TROUPE_FIXTURE_FAIL_ON_START: "2,3" }
        })
      ])
      const ref = sup.ref("actor", RestartingBehaviour.actor)
      expect(yield* ref.ask("Increment", { by: 1 })).toBe(1)
      const pid = yield* ref.ask("Pid", undefined)
      expect(yield* Effect.flip(ref.ask("Fail", undefined))).toMatchObject({ _tag: "Boom" })
      // The instance was left without handlers: every later message failed with UnknownMessage, for good.
      expect(yield* Effect.flip(ref.ask("Get", undefined))).toMatchObject({
        _tag: "RemoteDefect",
        name: "ActorStartFailed"
      })
      expect(yield* ref.ask("Get", undefined)).toBe(0)
      expect(yield* ref.ask("Pid", undefined)).not.toBe(pid)
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
  },
  60_000
)

it.live(
  "S40 state lives across messages; resume keeps it after a typed failure; a crash starts it fresh; persistedRef restores it",
  () =>
    Effect.gen(function* () {
      yield* withActor(CounterBehaviour, {}, (counter) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* counter.ask("Increment", { by: 1 })
          expect(yield* counter.ask("Get", undefined)).toBe(5)
          const failed = yield* Effect.exit(counter.ask("Fail", undefined))
          expect(failed).toMatchObject({ _tag: "Failure" })
          expect(failureTag(failed)).toBe("Boom")
          expect(yield* counter.ask("Get", undefined)).toBe(5)
          expect(failureTag(yield* Effect.exit(counter.ask("Crash", undefined)))).toBe("ActorDied")
          expect(yield* counter.ask("Get", undefined)).toBe(0)
        })
      )
      yield* withActor(PersistentBehaviour, {}, (counter, sup) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* counter.ask("Increment", { by: 1 })
          const pid = yield* counter.ask("Pid", undefined)
          process.kill(pid, "SIGKILL")
          // A message sent before the supervisor sees the exit would go to the dying process: wait for the new one.
          yield* eventually(
            Effect.map(sup.tree, (tree) => tree.children?.[0]?.pid),
            (now) => now != null && now !== pid
          )
          expect(yield* counter.ask("Get", undefined)).toBe(5)
          expect(yield* counter.ask("Pid", undefined)).not.toBe(pid)
        })
      )
      yield* withActor(RestartingBehaviour, {}, (counter) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* counter.ask("Increment", { by: 1 })
          const pid = yield* counter.ask("Pid", undefined)
          expect(failureTag(yield* Effect.exit(counter.ask("Fail", undefined)))).toBe("Boom")
          expect(yield* counter.ask("Get", undefined)).toBe(0)
          // A restart of the state, not of the process.
          expect(yield* counter.ask("Pid", undefined)).toBe(pid)
        })
      )
      // Past the supervisor's intensity, every call fails with ActorDied.
      yield* withActor(CounterBehaviour, { supervisor: { intensity: 0 } }, (counter, sup) =>
        Effect.gen(function* () {
          yield* Effect.exit(counter.ask("Crash", undefined))
          yield* Effect.exit(sup.join)
          expect(failureTag(yield* Effect.exit(counter.ask("Get", undefined)))).toBe("ActorDied")
          expect(failureTag(yield* Effect.exit(counter.tell("Increment", { by: 1 })))).toBe("ActorDied")
        })
      )
    }),
  90_000
)

it.live(
  "S41 one sender's 10,000 messages run in order; three senders each keep their order",
  () =>
    withActor(CounterBehaviour, {}, (actor) =>
      Effect.gen(function* () {
        for (let seq = 0; seq < 10_000; seq++) yield* actor.tell("Record", { sender: 0, seq })
        const single = yield* actor.ask("Log", undefined)
        expect(single.map(([, seq]) => seq)).toEqual(Array.from({ length: 10_000 }, (_, i) => i))
        yield* Effect.forEach(
          [1, 2, 3],
          (sender) =>
            Effect.gen(function* () {
              for (let seq = 0; seq < 3000; seq++) {
                yield* actor.tell("Record", { sender, seq })
                if (seq % 100 === 0) yield* Effect.yieldNow
              }
            }),
          { concurrency: "unbounded" }
        )
        const log = (yield* actor.ask("Log", undefined)).slice(10_000)
        expect(log).toHaveLength(9000)
        for (const sender of [1, 2, 3]) {
          expect(log.filter(([from]) => from === sender).map(([, seq]) => seq)).toEqual(
            Array.from({ length: 3000 }, (_, i) => i)
          )
        }
        // The senders interleaved: there is no global order, and none was promised.
        expect(log.slice(0, 3000).every(([from]) => from === 1)).toBe(false)
      })
    ),
  90_000
)

it.live(
  "S41 with crash retries, messages behind the crashed one wait for its retry and answered ones never run again",
  () =>
    withActor(PersistentBehaviour, { mailbox: { retries: 1 } }, (actor) =>
      Effect.gen(function* () {
        const crashOnceFile = tempFile("crash-once")
        const pid = yield* actor.ask("Pid", undefined)
        const sends = Array.from({ length: 100 }, (_, seq) =>
          actor.ask("Record", seq === 50 ? { sender: 0, seq, crashOnceFile } : { sender: 0, seq })
        )
        yield* Effect.all(sends, { concurrency: "unbounded" })
        expect((yield* actor.ask("Log", undefined)).map(([, seq]) => seq)).toEqual(
          Array.from({ length: 100 }, (_, i) => i)
        )
        expect(yield* actor.ask("Pid", undefined)).not.toBe(pid)
      })
    ),
  60_000
)

it.live(
  "S42 Schemas on both sides: a bad payload never leaves the caller; a bad reply is a typed error, not a crash",
  () =>
    withActor(CounterBehaviour, {}, (actor) =>
      Effect.gen(function* () {
        yield* actor.ask("Increment", { by: 3 })
        const pid = yield* actor.ask("Pid", undefined)
        const negative = yield* Effect.exit(actor.ask("Square", { n: -1 }))
        expect(failureTag(negative)).toBe("RequestValidationError")
        expect(JSON.stringify(negative)).toContain('[\\"n\\"]')
        const notANumber = yield* Effect.exit(actor.ask("Square", { n: "x" as unknown as number }))
        expect(failureTag(notANumber)).toBe("RequestValidationError")
        expect(yield* actor.depth).toBe(0)
        // The child checks the reply when it encodes it: a typed error for the caller, and the child lives on.
        expect(failureTag(yield* Effect.exit(actor.ask("BadReply", undefined)))).toBe("ResultEncodeError")
        expect(yield* actor.ask("Square", { n: 7 })).toEqual({ sq: 49 })
        expect(yield* actor.ask("Pid", undefined)).toBe(pid)
        expect(yield* actor.ask("Get", undefined)).toBe(3)
        const unknown = yield* Effect.exit(actor.ask("Nope" as "Get", undefined))
        expect(failureTag(unknown)).toBe("RequestValidationError")
      })
    ),
  60_000
)

it.live(
  "S42 a raw frame with an unknown message or a malformed shape is rejected in the child, which keeps serving",
  () =>
    Effect.gen(function* () {
      const transport = yield* Transport.Transport
      const frames: Array<any> = []
      const connection = yield* transport.spawn(
        {
          stdout: "inherit",
          stderr: "inherit",
          runner: { once: false, concurrency: 1, reportRss: false, preload: [CounterBehaviour.module], bundled: false },
          shutdownTimeout: 1000
        },
        (frame) => frames.push(frame)
      )
      const replyTo = (id: number) =>
        Effect.promise(async () => {
          for (let i = 0; i < 500; i++) {
            for (const frame of frames) {
              const found = frame._tag === "Replies" && frame.replies.find((reply: any) => reply.id === id)
              if (found) return found.reply
            }
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
          return undefined
        })
      const activate = {
        _tag: "Activate",
        id: 1,
        ref: 7,
        module: CounterBehaviour.module,
        actor: "Counter",
        key: "raw"
      }
      yield* connection.send({ _tag: "Actors", frames: [activate] })
      expect(yield* replyTo(1)).toMatchObject({ _tag: "Success" })
      yield* connection.send({
        _tag: "Actors",
        frames: [{ _tag: "Message", id: 2, ref: 7, tag: "Nope", payload: null }]
      })
      expect(yield* replyTo(2)).toMatchObject({ _tag: "Defect", name: "UnknownMessage" })
      yield* connection.send({ _tag: "Actors", frames: [{ _tag: "Message", id: "three" }] })
      yield* connection.send({
        _tag: "Actors",
        frames: [{ _tag: "Message", id: 4, ref: 7, tag: "Increment", payload: { by: 2 } }]
      })
      expect(yield* replyTo(4)).toEqual({ _tag: "Success", value: 2 })
      expect(frames.filter((frame) => frame._tag === "ProtocolError")).toHaveLength(2)
      expect(connection.exitStatus()).toBeUndefined()
    }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer)),
  60_000
)

it.live(
  "S43 backpressure: the mailbox never holds more than its capacity; offer fails at once or after its wait",
  () =>
    withActor(CounterBehaviour, { mailbox: { capacity: 16 } }, (actor) =>
      Effect.gen(function* () {
        let maxDepth = 0
        const sampler = yield* Effect.forkChild(
          Effect.forever(
            Effect.andThen(
              Effect.flatMap(actor.depth, (depth) =>
                Effect.sync(() => {
                  maxDepth = Math.max(maxDepth, depth)
                })
              ),
              Effect.sleep(5)
            )
          )
        )
        const started = Date.now()
        const producer = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: 100 }, (_, seq) => seq),
            (seq) => actor.tell("Record", { sender: 0, seq, ms: 50 })
          )
        )
        yield* Effect.sleep(300)
        const offerStarted = Date.now()
        const offered = yield* Effect.exit(actor.offer("Record", { sender: 1, seq: 0 }))
        const offerMs = Date.now() - offerStarted
        expect(failureTag(offered)).toBe("MailboxFull")
        // A hang bound: a waiting offer would have found room (the actor drains 50 ms per message) and succeeded.
        expect(offerMs).toBeLessThan(10_000)
        yield* Fiber.join(producer)
        const producerMs = Date.now() - started
        // 100 messages of 50 ms; the producer could only run 16 messages ahead of the actor.
        expect(producerMs).toBeGreaterThanOrEqual((100 - 16 - 1) * 50)
        const log = yield* actor.ask("Log", undefined)
        yield* Fiber.interrupt(sampler)
        expect(maxDepth).toBeLessThanOrEqual(16)
        expect(maxDepth).toBeGreaterThanOrEqual(15)
        expect(log.map(([, seq]) => seq)).toEqual(Array.from({ length: 100 }, (_, i) => i))
        // A mailbox that stays full (16 slow messages): an offer that may wait 100 ms gives up after about 100 ms.
        for (let seq = 0; seq < 16; seq++) yield* actor.tell("Record", { sender: 2, seq, ms: 400 })
        const waitStarted = Date.now()
        const waited = yield* Effect.exit(actor.offer("Record", { sender: 2, seq: 16 }, { wait: 100 }))
        expect(failureTag(waited)).toBe("MailboxFull")
        expect(Date.now() - waitStarted).toBeGreaterThanOrEqual(95)
      })
    ),
  60_000
)

it.live(
  "S39 messages sent during a restart wait in the stash, in order; past its capacity they fail at once with MailboxFull",
  () =>
    withActor(
      CounterBehaviour,
      { mailbox: { stashCapacity: 2 }, supervisor: { backoff: { min: 1000, max: 1000, randomFactor: 0 } } },
      (actor) =>
        Effect.gen(function* () {
          expect(failureTag(yield* Effect.exit(actor.ask("Crash", undefined)))).toBe("ActorDied")
          const pings = yield* Effect.forEach([1, 2, 3, 4], (seq) =>
            Effect.forkChild(Effect.exit(actor.ask("Record", { sender: 0, seq })))
          )
          yield* Effect.sleep(50)
          const early = yield* Effect.forEach(pings.slice(2), (ping) => Effect.map(Fiber.await(ping), (exit) => exit))
          expect(early.map((exit) => Exit.isSuccess(exit) && failureTag(exit.value))).toEqual([
            "MailboxFull",
            "MailboxFull"
          ])
          const late = yield* Effect.forEach(pings.slice(0, 2), Fiber.join)
          expect(late.every(Exit.isSuccess)).toBe(true)
          expect(yield* actor.ask("Log", undefined)).toEqual([
            [0, 1],
            [0, 2]
          ])
          // A stashed message that crashes the actor again does not take the rest of the stash with it.
          yield* Effect.exit(actor.ask("Crash", undefined))
          const again = yield* Effect.forEach(
            [actor.ask("Crash", undefined), actor.ask("Record", { sender: 0, seq: 3 })],
            (ask) => Effect.forkChild(Effect.exit(ask))
          )
          const [crashed, recorded] = yield* Effect.forEach(again, Fiber.join)
          expect(failureTag(crashed!)).toBe("ActorDied")
          expect(Exit.isSuccess(recorded!)).toBe(true)
          expect(yield* actor.ask("Log", undefined)).toEqual([[0, 3]])
        })
    ),
  60_000
)

it.live(
  "ask has a bound: an actor that does not answer in time gives AskTimeout, and the next ask is served",
  () =>
    withActor(CounterBehaviour, { mailbox: { askTimeout: 300 } }, (actor) =>
      Effect.gen(function* () {
        const slow = yield* Effect.exit(actor.ask("Sleep", { ms: 1000 }))
        expect(failureTag(slow)).toBe("AskTimeout")
        // The actor still handles the late message (its reply is dropped); the next one waits behind it.
        yield* Effect.sleep(900)
        expect(yield* actor.ask("Increment", { by: 1 })).toBe(1)
      })
    ),
  60_000
)

it.live(
  "an actor's process stopped by its finalizer-aware SIGTERM runs the actor's finalizers",
  () =>
    Effect.gen(function* () {
      const stops = tempFile("stops")
      yield* Effect.gen(function* () {
        const sup = yield* Supervisor.start({}, [
          Supervisor.worker("a", CounterBehaviour, { env: { TROUPE_FIXTURE_STOPS: stops } })
        ])
        yield* sup.ref("a", Counter).ask("Increment", { by: 1 })
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
      const { readFileSync } = yield* Effect.promise(() => import("node:fs"))
      expect(readFileSync(stops, "utf8")).toBe("stop a\n")
    }),
  60_000
)

it.live(
  "actors run on worker threads too: state, a crash of the thread, a fresh instance after the restart",
  () =>
    Effect.gen(function* () {
      const sup = yield* Supervisor.start({ intensity: 3 }, [Supervisor.worker("a", CounterBehaviour)])
      const counter = sup.ref("a", Counter)
      expect(yield* counter.ask("Increment", { by: 2 })).toBe(2)
      const before = (yield* sup.tree).children?.[0]?.pid
      expect(failureTag(yield* Effect.exit(counter.ask("Crash", undefined)))).toBe("ActorDied")
      expect(yield* counter.ask("Get", undefined)).toBe(0)
      const after = (yield* sup.tree).children?.[0]
      expect(after).toMatchObject({ status: "running", restarts: 1 })
      expect(after?.pid).not.toBe(before)
    }).pipe(Effect.scoped, Effect.provide(NodeThread.layer)),
  60_000
)
