/**
 * One actor instance as the parent sees it: its mailbox, its place in a
 * hosting child, and its last persisted state.
 *
 * The mailbox lives in the parent and outlives the child: messages wait in
 * `queue`, go to the child in order once the instance is active, and stay in
 * `inflight` until answered. When the child dies, the first unanswered
 * message is the one that may have run: it fails with `ActorDied` (or goes
 * back to the head of the queue while it has retries left); the others never
 * started and wait for the next instance. Answered messages never run again.
 * A supervised worker's process that ends because its instance crashed (it
 * sent the crash's reply, then exits) runs nothing after it: every message
 * unanswered then waits for the next instance, and none is sent to it.
 *
 * `capacity` bounds waiting plus unanswered messages: senders beyond it wait
 * in order (`offer` does not), in a `Semaphore` (the cell's `Line`). While
 * the instance has no live host (it is restarting or backing off), a message
 * beyond `stashCapacity` fails at once with `MailboxFull`.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Semaphore from "effect/Semaphore"
import { ActorDied, AskTimeout, MailboxFull, RequestValidationError } from "../../TroupeError.ts"
import { nonNegativeDuration } from "../options.ts"
import type { TimeSource } from "../timeSource.ts"
import * as Codec from "../wire/codec.ts"
import { walk } from "../wire/contract.ts"
import { isActorCrash, type Reply } from "../wire/frame.ts"
import type { ActorHost, Tenant } from "./actorHost.ts"
import { type BehaviourShape, messageCodable } from "./actorRegistry.ts"

export interface MailboxSettings {
  readonly capacity: number
  readonly stashCapacity: number
  readonly retries: number
  readonly askTimeout: Duration.Duration
}

export const resolveMailbox = (options?: {
  readonly capacity?: number | undefined
  readonly stashCapacity?: number | undefined
  readonly retries?: number | undefined
  readonly askTimeout?: Duration.Input | undefined
}): MailboxSettings => {
  const capacity = options?.capacity ?? 1000
  const stashCapacity = options?.stashCapacity ?? capacity
  const retries = options?.retries ?? 0
  for (const [name, value, min] of [
    ["capacity", capacity, 1],
    ["stashCapacity", stashCapacity, 0],
    ["retries", retries, 0]
  ] as const) {
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`mailbox ${name} must be an integer >= ${min}, got ${value}`)
    }
  }
  return {
    capacity,
    stashCapacity,
    retries,
    askTimeout: Duration.fromInputUnsafe(options?.askTimeout ?? Duration.seconds(30))
  }
}

interface Envelope {
  readonly tag: string
  readonly payload: unknown
  readonly discard: boolean
  readonly done: Deferred.Deferred<unknown, unknown>
  attempts: number
  abandoned: boolean
}

type Activation = "none" | "pending" | "active"

/**
 * The senders waiting for room in a full mailbox, in order. A place that
 * frees up while someone waits without one is handed to the line as a permit
 * of `room` (and stays counted in the cell's `size`): Effect's `Semaphore`
 * gives it to the first waiter, and passes it on when a woken waiter is
 * interrupted before it takes it. A sender with room takes its place without
 * touching the line (`size++`); so does a freed place nobody waits for
 * (`size--`).
 */
interface Line {
  readonly room: Semaphore.Semaphore
  /** Senders in the line: from joining until they take a permit or leave. */
  waiting: number
  /** Permits handed to the line and not taken yet: places counted in `size` that no message holds. */
  handed: number
  /** The cell was killed while they waited: each waiter fails with this. */
  closed: ActorDied | undefined
}

const makeLine = (): Line => ({ room: Semaphore.makeUnsafe(0), waiting: 0, handed: 0, closed: undefined })

/** A handler's reply as its instance encoded it (`Keyed.EncodedReply`). */
export type EncodedReply =
  | { readonly _tag: "Success"; readonly value: unknown }
  | { readonly _tag: "Failure"; readonly error: unknown }

const relayedVoid: EncodedReply = { _tag: "Success", value: null }

/** The longest delay `setTimeout` takes; a longer ask timeout takes the general path. */
const maxTimerMillis = 2 ** 31 - 1

/** How a host's process ended, for messages: its exit code or signal. */
const endedHow = (host: ActorHost): string => {
  const status = host.connection.exitStatus()
  if (status === undefined) return "it stopped"
  return status.signal !== null ? `signal ${status.signal}` : `exit code ${status.code}`
}

export class ActorCell implements Tenant {
  readonly name: string
  host: ActorHost | undefined
  activation: Activation = "none"
  dead: ActorDied | undefined
  snapshot: unknown
  /** A dynamic child's start arguments, encoded: sent with every activation, so a restart gets the same. */
  private startArgs: unknown
  /** When a message last left the mailbox (or the cell was made), in the clock's monotonic milliseconds. */
  lastActivity: number
  /** A passivation asked for while the instance was starting: it stops as soon as it has started. */
  private passivateWhenStarted: (() => void) | undefined
  /**
   * The host whose instance is stopping (passivated, or stopped itself with `Actor.exit`): the cell stays bound to
   * it, and no new instance starts, until that one has stopped (its finalizers ran) or the host died. One
   * instance per key, as Akka's sharding buffers an entity's messages while it stops.
   */
  private stoppingIn: ActorHost | undefined
  /** Callers of `passivate`, told once the instance has stopped. */
  private whenStopped: Array<() => void> = []
  /** A supervised start waiting for its activation's reply (`start`): told if the host dies before it comes. */
  private starting: ((failure: Reply) => void) | undefined
  /** The host whose process is ending because this (supervised) instance crashed: it runs nothing more. */
  private ending: ActorHost | undefined
  private queue: Array<Envelope> = []
  private inflight: Array<Envelope> = []
  /** Places taken: messages queued or unanswered, and places handed to the line (`Line.handed`). */
  private size = 0
  private line: Line = makeLine()
  /** Completed (and dropped) when the mailbox empties: made only while someone waits for it (`whenIdle`). */
  private emptied: Deferred.Deferred<void> | undefined

  readonly behaviour: BehaviourShape
  readonly key: string
  readonly ref: number
  readonly settings: MailboxSettings
  /** Where the instance lives now; `undefined` while its host restarts. */
  private readonly locate: () => ActorHost | undefined
  /** Whether this instance is its host's only actor (a supervised worker). */
  private readonly exitWithActor: boolean
  /** The supervision tree's time: ask timeouts, activity. */
  private readonly clock: TimeSource

  constructor(options: {
    readonly behaviour: BehaviourShape
    readonly key: string
    readonly ref: number
    readonly settings: MailboxSettings
    readonly locate: () => ActorHost | undefined
    readonly exitWithActor: boolean
    readonly snapshot?: unknown
    readonly clock: TimeSource
  }) {
    this.behaviour = options.behaviour
    this.key = options.key
    this.ref = options.ref
    this.settings = options.settings
    this.locate = options.locate
    this.exitWithActor = options.exitWithActor
    this.name = options.behaviour.actor.name
    this.snapshot = options.snapshot
    this.clock = options.clock
    this.lastActivity = options.clock.monotonicMillis()
  }

  get depth(): number {
    return this.size
  }

  get idle(): boolean {
    return this.size === 0
  }

  /** Whether the instance is stopping (passivated, or stopped itself) and has not finished. */
  get stopping(): boolean {
    return this.stoppingIn !== undefined
  }

  /** Waits until the mailbox is empty (at once if it is): no message queued or unanswered, nobody in line. */
  get whenIdle(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.size === 0) return Effect.void
      this.emptied ??= Deferred.makeUnsafe<void>()
      return Deferred.await(this.emptied)
    })
  }

  /** Sends a message; `discard` for `tell` (resolved once the message is in the mailbox). */
  send(
    tag: string,
    payload: unknown,
    mode: "ask" | "tell" | "offer",
    wait?: Duration.Input
  ): Effect.Effect<unknown, unknown> {
    return Effect.suspend(() => {
      const codable = this.codableOf(tag)
      if (Exit.isFailure(codable)) return codable
      const badWait = nonNegativeDuration("wait", wait)
      if (badWait !== undefined) return Exit.fail(badWait)
      const encoded = Codec.encodePayloadExit(codable.value, payload)
      if (Exit.isFailure(encoded)) return encoded
      return this.post(tag, encoded.value, mode, wait, (reply) =>
        Codec.decodeReply(codable.value, { module: this.behaviour.module }, reply)
      )
    })
  }

  /**
   * Sends a message whose payload another process already encoded, and gives
   * the instance's reply as it came (`undefined` for `tell` and `offer`, once
   * the message is in the mailbox): a message relayed from one child to an
   * actor in another is neither decoded nor encoded here. The instance's
   * child decodes the payload with the message's Schema, so a bad one is
   * still a typed error for its sender. The mailbox's own failures
   * (`MailboxFull`, `ActorDied`, `AskTimeout`) fail the effect, as for `send`.
   */
  relay(
    tag: string,
    encodedPayload: unknown,
    mode: "ask" | "tell" | "offer",
    wait?: Duration.Input
  ): Effect.Effect<Reply | undefined, unknown> {
    return Effect.suspend((): Effect.Effect<Reply | undefined, unknown> => {
      const codable = this.codableOf(tag)
      if (Exit.isFailure(codable)) return Exit.failCause(codable.cause)
      return this.post(tag, encodedPayload, mode, wait, (reply) => Exit.succeed(reply)) as Effect.Effect<
        Reply | undefined,
        unknown
      >
    })
  }

  /**
   * `relay` for an `ask` whose sender reads the instance's reply itself: a
   * success or a typed failure of the handler as the instance encoded it;
   * anything else (a defect, a failed start, a reply that could not be
   * encoded) decoded here into the error an `ask` gives for it.
   */
  relayAsk(tag: string, encodedPayload: unknown): Effect.Effect<EncodedReply, unknown> {
    // Said to be encoded, from a caller the types do not reach: what JSON cannot carry (undefined, a function, a
    // bigint, a cycle) is refused here, as the instance's child would refuse what does not decode.
    const refused = walk(encodedPayload, "payload", false).refused
    if (refused !== undefined) {
      return Exit.fail(
        new RequestValidationError({
          task: `${this.name}.${tag}`,
          message: `the encoded payload is not JSON data: ${refused}`
        })
      )
    }
    return Effect.flatMap(this.relay(tag, encodedPayload, "ask"), (reply): Exit.Exit<EncodedReply, unknown> => {
      if (reply === undefined) return Exit.succeed(relayedVoid)
      if (reply._tag === "Success") return Exit.succeed(reply)
      if (reply._tag === "Failure") return Exit.succeed({ _tag: "Failure", error: reply.error })
      return Codec.decodeReply(messageCodable(this.behaviour.actor, tag)!, { module: this.behaviour.module }, reply)
    })
  }

  /** The codec view of message `tag`, or the failure of a message this actor does not take. */
  private codableOf(tag: string): Exit.Exit<Codec.Codable, ActorDied | RequestValidationError> {
    if (this.dead !== undefined) return Exit.fail(this.dead)
    const codable = messageCodable(this.behaviour.actor, tag)
    return codable === undefined
      ? Exit.fail(
          new RequestValidationError({
            task: `${this.name}.${tag}`,
            message: `actor ${this.name} has no message ${tag}`
          })
        )
      : Exit.succeed(codable)
  }

  /** Puts an encoded message in the mailbox; an `ask` waits for its reply and gives it to `answered`. */
  private post(
    tag: string,
    encodedPayload: unknown,
    mode: "ask" | "tell" | "offer",
    wait: Duration.Input | undefined,
    answered: (reply: Reply) => Exit.Exit<unknown, unknown>
  ): Effect.Effect<unknown, unknown> {
    if (this.host === undefined && this.locate() === undefined && this.size >= this.settings.stashCapacity) {
      return Effect.fail(this.mailboxFull(this.settings.stashCapacity))
    }
    const envelope: Envelope = {
      tag,
      payload: encodedPayload,
      discard: mode !== "ask",
      done: Deferred.makeUnsafe(),
      attempts: 0,
      abandoned: false
    }
    const enqueue = () => {
      this.queue.push(envelope)
      this.deliver()
    }
    const timeoutMs = Duration.toMillis(this.settings.askTimeout)
    const timedOut = () => new AskTimeout({ actor: this.name, key: this.key, tag, timeoutMs })
    const answer = Deferred.await(envelope.done).pipe(
      Effect.flatMap((reply) => answered(reply as Reply)),
      Effect.onInterrupt(() => Effect.sync(() => this.abandon(envelope)))
    )
    if (mode === "ask" && this.admitsAtOnce() && timeoutMs <= maxTimerMillis) {
      // The common ask: room in the mailbox, so the place is taken now and one timer bounds the wait. (A race
      // with a sleep, as below, forks two fibers and interrupts one per message: most of an ask's parent CPU.)
      this.size++
      enqueue()
      return Effect.suspend(() => {
        const timer = this.clock.after(timeoutMs, () => {
          this.abandon(envelope)
          Deferred.doneUnsafe(envelope.done, Exit.fail(timedOut()))
        })
        return answer.pipe(Effect.ensuring(Effect.sync(() => this.clock.cancel(timer))))
      })
    }
    const admitted = this.admit(mode, wait).pipe(Effect.andThen(Effect.sync(enqueue)))
    if (mode !== "ask") return admitted
    return admitted.pipe(
      Effect.andThen(answer),
      Effect.timeoutOrElse({ duration: this.settings.askTimeout, orElse: () => Effect.fail(timedOut()) })
    )
  }

  /** Whether a message takes its place in the mailbox without waiting. */
  private admitsAtOnce(): boolean {
    return this.size < this.settings.capacity && this.line.waiting === 0
  }

  private mailboxFull(capacity: number) {
    return new MailboxFull({ actor: this.name, key: this.key, capacity })
  }

  /** Takes a place in the mailbox, waiting in line for room unless `offer`ing. */
  private admit(mode: "ask" | "tell" | "offer", wait?: Duration.Input): Effect.Effect<void, MailboxFull | ActorDied> {
    return Effect.suspend(() => {
      if (this.admitsAtOnce()) {
        this.size++
        return Effect.void
      }
      if (mode === "offer" && wait === undefined) return Effect.fail(this.mailboxFull(this.settings.capacity))
      const queued = this.waitInLine()
      return mode === "offer"
        ? queued.pipe(
            Effect.timeoutOrElse({
              duration: wait!,
              orElse: () => Effect.fail(this.mailboxFull(this.settings.capacity))
            })
          )
        : queued
    })
  }

  /**
   * Joins the line and waits for a place; the permit taken is that place (already counted in `size`). The caller
   * puts its message in the mailbox in the same step it resumes in (no other fiber runs between the two).
   */
  private waitInLine(): Effect.Effect<void, ActorDied> {
    const line = this.line
    line.waiting++
    this.handOut()
    return line.room.take(1).pipe(
      // Interrupted while waiting (an offer's wait ran out, the caller gave up): a wake it had went on to the next
      // waiter. The last one to leave takes back the permits nobody will take, so the line leaves no trace.
      Effect.onInterrupt(() => {
        line.waiting--
        if (line.waiting > 0 || line.handed === 0 || line.closed !== undefined) return Effect.void
        const unclaimed = line.handed
        return Effect.map(line.room.takeIfAvailable(unclaimed), (took) => {
          if (!took) return
          line.handed -= unclaimed
          this.shrink(unclaimed)
        })
      }),
      Effect.flatMap(() => {
        line.waiting--
        line.handed--
        return line.closed === undefined ? Effect.void : Effect.fail(line.closed)
      })
    )
  }

  /** Hands free places to the senders in line that have none yet, first come first served. */
  private handOut() {
    const line = this.line
    let permits = 0
    while (this.size < this.settings.capacity && line.waiting > line.handed) {
      this.size++
      line.handed++
      permits++
    }
    // The wake runs now, in this call: the first waiter resumes and takes its place, as a sender with room would.
    if (permits > 0) Effect.runSync(line.room.release(permits))
  }

  /** A message left the mailbox: its place goes to the line, or is free. */
  private release() {
    this.lastActivity = this.clock.monotonicMillis()
    this.shrink(1)
  }

  private shrink(places: number) {
    this.size -= places
    if (this.line.waiting > this.line.handed) this.handOut()
    else if (this.size === 0 && this.emptied !== undefined) {
      const emptied = this.emptied
      this.emptied = undefined
      Deferred.doneUnsafe(emptied, Exit.void)
    }
  }

  /** A caller stopped waiting: a message still queued is withdrawn; a sent one is answered into the void. */
  private abandon(envelope: Envelope) {
    const index = this.queue.indexOf(envelope)
    if (index >= 0) {
      this.queue.splice(index, 1)
      this.release()
    } else envelope.abandoned = true
  }

  private settle(envelope: Envelope, reply: Reply, snapshot: unknown) {
    const index = this.inflight.indexOf(envelope)
    if (index < 0) return
    // Sent before the crash's reply came, it reached a child whose instance was gone: it never ran, and waits
    // (still unanswered) for the next instance.
    if (this.ending !== undefined && reply._tag === "Defect" && reply.name === "ActorNotActive") return
    if (
      !this.exitWithActor &&
      reply._tag === "Defect" &&
      (reply.name === "ActorStopped" || reply.name === "ActorNotActive")
    ) {
      // A keyed instance stopped itself (`Actor.exit`); its `Stopped` frame comes once its finalizers ran.
      return this.stoppedItself()
    }
    this.inflight.splice(index, 1)
    if (this.exitWithActor && isActorCrash(reply)) this.ending = this.host
    if (snapshot !== undefined) this.snapshot = snapshot
    // Room first: a caller resumed by the reply may look at the mailbox at once.
    this.release()
    if (reply._tag === "Defect" && (reply.name === "ActorStopped" || reply.name === "ActorNotActive")) {
      Deferred.doneUnsafe(
        envelope.done,
        Exit.fail(new ActorDied({ actor: this.name, key: this.key, reason: reply.message }))
      )
    } else Deferred.doneUnsafe(envelope.done, Exit.succeed(reply))
  }

  /** Sends what is queued, activating the instance first if its host does not have it yet. */
  deliver(): void {
    if (this.dead !== undefined || this.stoppingIn !== undefined) return
    if (this.host === undefined) {
      // Bound only for a message: a cell that binds with none (after its passivation) would stay among its host's
      // tenants after its group let go of it, one more for every key that ever passivated.
      if (this.queue.length === 0) return
      const host = this.locate()
      if (host === undefined || host.isDown()) return
      this.bind(host)
    }
    const host = this.host!
    // Its host has exited and is telling its cells one by one; a caller resumed by an earlier cell's news may send
    // before this cell hears. Nothing goes to the dead process: the messages wait for the next host, as after the news.
    if (host.isDown()) return
    if (this.activation === "none") {
      if (this.queue.length === 0) return
      this.activate(host, (failure) => {
        if (failure === undefined) return
        for (const envelope of this.queue.splice(0)) {
          this.release()
          Deferred.doneUnsafe(envelope.done, Exit.succeed(failure))
        }
      })
      return
    }
    if (this.activation === "pending" || this.ending === host) return
    for (const envelope of this.queue.splice(0)) {
      this.inflight.push(envelope)
      host.push(
        {
          _tag: "Message",
          ref: this.ref,
          tag: envelope.tag,
          payload: envelope.payload,
          ...(envelope.discard ? { discard: true } : {})
        },
        (reply, snapshot) => this.settle(envelope, reply, snapshot)
      )
    }
  }

  bind(host: ActorHost): void {
    this.host = host
    this.activation = "none"
    host.tenants.add(this)
  }

  /** Leaves `host`, if the cell is bound to it: the next message binds it again, to wherever its instance lives. */
  private unbind(host: ActorHost): void {
    if (this.host !== host) return
    this.host = undefined
    host.tenants.delete(this)
  }

  /** Starts the instance in its host; `onDone` receives `undefined` or the failure reply. */
  activate(host: ActorHost, onDone: (failure: Reply | undefined) => void): void {
    this.activation = "pending"
    host.push(
      {
        _tag: "Activate",
        ref: this.ref,
        module: this.behaviour.module,
        actor: this.name,
        key: this.key,
        ...(this.snapshot === undefined ? {} : { snapshot: this.snapshot }),
        ...(this.exitWithActor ? { exitWithActor: true } : {}),
        ...(this.startArgs === undefined ? {} : { args: this.startArgs })
      },
      (reply) => {
        if (this.host !== host) return
        const passivation = this.passivateWhenStarted
        this.passivateWhenStarted = undefined
        if (reply._tag === "Success") {
          this.activation = "active"
          onDone(undefined)
          if (passivation !== undefined) this.passivate(passivation)
          else this.deliver()
        } else {
          this.activation = "none"
          onDone(reply)
          passivation?.()
        }
      }
    )
  }

  /** Activates the instance in `host` with `startArgs` (encoded) and waits for it: a supervised worker's start. */
  start(host: ActorHost, startArgs?: unknown): Effect.Effect<void, Reply> {
    return Effect.callback<void, Reply>((resume) => {
      this.startArgs = startArgs
      this.bind(host)
      this.starting = (failure) => resume(Effect.fail(failure))
      this.activate(host, (failure) => {
        this.starting = undefined
        resume(failure === undefined ? Effect.void : Effect.fail(failure))
      })
      return Effect.sync(() => {
        this.starting = undefined
      })
    })
  }

  /** The instance's child is gone (crashed, or stopped by its supervisor). */
  hostDied(host: ActorHost): void {
    if (this.host !== host) return
    // A keyed instance that was starting on demand: its `build` is part of handling the message that started it.
    const startedOnDemand = this.activation === "pending" && this.starting === undefined && !this.exitWithActor
    this.host = undefined
    this.activation = "none"
    // A supervised start fails now, with how the process ended, rather than at its start timeout. (Messages
    // queued for an instance that was starting on demand wait for the next host, as they would have.)
    const starting = this.starting
    this.starting = undefined
    const crashed = this.ending === host
    this.ending = undefined
    starting?.({
      _tag: "Defect",
      name: "ActorDied",
      message: `its process ${host.pid} ended (${endedHow(host)}) while it started`
    })
    const passivation = this.passivateWhenStarted
    this.passivateWhenStarted = undefined
    passivation?.()
    // The message that may have run: the first unanswered one, or, when the process ended while the instance
    // started for it, the first one waiting (its `build` may be what ended the process: retried on every new host,
    // a key whose start kills its host would take the whole group past its restart intensity).
    const [first, ...rest] = startedOnDemand ? [...this.inflight, ...this.queue.splice(0, 1)] : this.inflight
    this.inflight = []
    // After its instance's crash the process ran nothing more: the first unanswered message did not run either.
    const requeue = crashed && first !== undefined ? [first, ...rest] : rest
    if (first !== undefined && !crashed) {
      if (first.attempts < this.settings.retries && !first.abandoned) {
        first.attempts++
        requeue.unshift(first)
      } else {
        this.release()
        const how = endedHow(host)
        const during = startedOnDemand ? `while it started for ${first.tag}` : `while it handled ${first.tag}`
        Deferred.doneUnsafe(
          first.done,
          Exit.fail(
            new ActorDied({
              actor: this.name,
              key: this.key,
              reason: `its process ${host.pid} ended (${how}) ${during}`
            })
          )
        )
      }
    }
    this.queue = [...requeue, ...this.queue]
    // An instance that was stopping is gone with its process: the next one may start.
    this.stopped(host)
  }

  /**
   * Passivates an idle instance: its host stops it; the next message starts it again, once this one has stopped.
   * `onStopped` runs once the host has stopped it (its finalizers ran) or died, or at once if there was nothing to
   * stop.
   */
  passivate(onStopped: () => void = () => {}): void {
    const host = this.host
    if (this.stoppingIn !== undefined) {
      this.whenStopped.push(onStopped)
      return
    }
    if (host !== undefined && this.activation === "pending" && this.idle) {
      // Its messages were abandoned while it started: stopping it now would leave the instance that is
      // starting running in its host, unowned.
      this.passivateWhenStarted = onStopped
      return
    }
    if (host === undefined || this.activation !== "active" || !this.idle) {
      // Nothing to stop. An idle cell bound to a host with no instance there (its start failed) leaves the host, as
      // a stopped instance's does: its group lets go of it, and the host would keep it among its tenants for good.
      if (host !== undefined && this.activation === "none" && this.idle) this.unbind(host)
      onStopped()
      return
    }
    this.activation = "none"
    this.stoppingIn = host
    this.whenStopped.push(onStopped)
    host.push({ _tag: "Passivate", ref: this.ref }, () => this.stopped(host))
  }

  /**
   * The instance stopped itself (`Actor.exit`): the messages sent after that never ran. They go back to the front
   * of the queue, in order, for the next instance, which starts once this one has stopped.
   */
  private stoppedItself(): void {
    this.activation = "none"
    this.stoppingIn = this.host
    this.queue = [...this.inflight, ...this.queue]
    this.inflight = []
  }

  /**
   * The child says the instance in `host` stopped itself and its finalizers ran (its `Stopped` frame, which
   * follows the replies of every message it handled): the next message starts a new one.
   */
  instanceStopped(host: ActorHost): void {
    // A supervised worker's process ends next, and its cell hears of that (`hostDied`).
    if (this.exitWithActor || this.host !== host) return
    this.stoppedItself()
    this.stopped(host)
  }

  /**
   * The instance in `host` has stopped, or `host` died: the callers of `passivate` hear of it, and the next
   * instance may start.
   */
  private stopped(host: ActorHost): void {
    if (this.stoppingIn !== host) return
    this.stoppingIn = undefined
    this.unbind(host)
    for (const told of this.whenStopped.splice(0)) told()
    this.deliver()
  }

  /** The instance is gone for good: every waiting and later message fails with `ActorDied`. */
  kill(reason: string): void {
    if (this.dead !== undefined) return
    this.dead = new ActorDied({ actor: this.name, key: this.key, reason })
    this.host?.tenants.delete(this)
    this.host = undefined
    this.activation = "none"
    for (const envelope of [...this.inflight, ...this.queue]) Deferred.doneUnsafe(envelope.done, Exit.fail(this.dead))
    this.inflight = []
    this.queue = []
    // The senders in line fail with `dead` as they wake; a revived cell starts a new line.
    const line = this.line
    this.line = makeLine()
    line.closed = this.dead
    const unwoken = line.waiting - line.handed
    line.handed += unwoken
    if (unwoken > 0) Effect.runSync(line.room.release(unwoken))
    this.shrink(this.size)
  }

  /** The instance may come back (its supervisor restarts it): it takes messages again. */
  revive(): void {
    this.dead = undefined
  }
}
