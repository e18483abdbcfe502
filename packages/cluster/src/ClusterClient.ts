/**
 * Keyed actors on a cluster, from the caller's side: `ActorRef`s whose
 * messages go through `effect/cluster` to the runner that owns the key.
 *
 * The refs have the local `Keyed` group's shape and typed errors: a failure
 * inside the runner (the instance's host process died, its mailbox is full,
 * its handler died) comes back as the same `AskError`, and the cluster's own
 * failures (the entity's mailbox on the runner is full, the message could not
 * be stored or routed) are mapped onto `MailboxFull` and `ActorDied`. Every
 * `ask` is bounded by `askTimeout` (`AskTimeout`), as locally.
 *
 * @since 0.1.0
 */
import type * as Actor from "@troupe/core/Actor"
import { expected } from "@troupe/core/Check"
import * as Keyed from "@troupe/core/Keyed"
import {
  ActorDied,
  AskTimeout,
  type InvalidOption,
  MailboxFull,
  ReplyValidationError,
  RequestValidationError
} from "@troupe/core/TroupeError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as ClusterError from "effect/cluster/ClusterError"
import * as Sharding from "effect/cluster/Sharding"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { clusterActorOf, type WireMessage, type WireReply } from "./internal/clusterEntity.ts"
import * as Check from "./internal/options.ts"
import { askRefusal, refusePayload } from "./internal/payload.ts"
import { failWhenStopped } from "./internal/stoppedEntity.ts"
import type * as KeyedRefs from "./KeyedRefs.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The bound on one `ask` or `tell`, failover included (default 30 seconds):
   * `AskTimeout` after it. A duration over zero: another is an `InvalidOption`.
   */
  readonly askTimeout?: Duration.Input | undefined
}

type AnyClient = Record<
  string,
  (payload: unknown, options?: { readonly discard?: boolean }) => Effect.Effect<unknown, unknown>
>

/** The clients of this many keys are kept (the least recently made goes first). */
const maxClients = 4096

/** The longest delay `setTimeout` takes; a longer `askTimeout` takes the general path. */
const maxTimerMillis = 2 ** 31 - 1

const liveClock = Context.get(Context.empty(), Clock.Clock)

/** The cluster's own failures, as the `AskError` a local group gives for the same situation. */
const fromClusterError = (actor: string, key: string, error: unknown): unknown => {
  if (error instanceof ClusterError.MailboxFull) return new MailboxFull({ actor, key, capacity: Number.NaN })
  if (
    error instanceof ClusterError.AlreadyProcessingMessage ||
    error instanceof ClusterError.PersistenceError ||
    error instanceof ClusterError.EntityNotAssignedToRunner
  ) {
    return new ActorDied({ actor, key, reason: `the cluster could not deliver the message: ${error._tag}` })
  }
  return error
}

/**
 * The longest key, in UTF-16 code units: the engine stores a persisted message's entity id in a
 * `VARCHAR(255)` column, so a longer key could take volatile messages and never a persisted one.
 */
const maxKeyLength = 255

/**
 * Why PostgreSQL could not store `key`, or `undefined`: such a key used to loop in the runner until the ask
 * timed out (a NUL), or to share its entity with other keys (a lone surrogate).
 */
const keyRefusal = (key: string): string | undefined => {
  if (key.includes("\u0000"))
    return `the key ${JSON.stringify(key)} contains a NUL character, which PostgreSQL cannot store`
  if (key.length > maxKeyLength)
    return `the key is ${key.length} characters long, over the cluster's limit of ${maxKeyLength}`
  // UTF-8 (the wire, PostgreSQL) turns every lone surrogate into U+FFFD: two such keys would be one entity.
  if (!key.isWellFormed())
    return `the key ${JSON.stringify(key)} holds a lone surrogate, which UTF-8 (and so PostgreSQL) cannot store`
  return undefined
}

/** A message whose entity its runner stopped before it replied (the runner stopping, or handing the key over). */
const entityStopped = (actor: string, key: string) =>
  new ActorDied({
    actor,
    key,
    reason: "its runner stopped the key's entity before it replied (the message may have run there)"
  })

const clientShutDown = (actor: string, key: string) =>
  new ActorDied({
    actor,
    key,
    reason: "this node's cluster client shut down before the reply came (the message may have run)"
  })

/** A reply from the runner, decoded: the handler's success, or its typed error, or the runner's `AskError`. */
const fromWire = (task: string, message: WireMessage, reply: unknown): Exit.Exit<unknown, unknown> => {
  const wire = reply as WireReply | null
  if (wire?._tag === "Success") {
    const value = message.decodeSuccess(wire.value)
    return Exit.isSuccess(value)
      ? value
      : Exit.fail(new ReplyValidationError({ task, message: `invalid success value: ${value.cause}` }))
  }
  if (wire?._tag === "Failure") {
    const error = message.decodeError(wire.error)
    return Exit.isSuccess(error)
      ? Exit.fail(error.value)
      : Exit.fail(new ReplyValidationError({ task, message: `invalid error value: ${error.cause}` }))
  }
  return Exit.fail(new ReplyValidationError({ task, message: "the runner's reply is neither a success nor a failure" }))
}

/**
 * The refs of an actor type whose instances run on a cluster's runners.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ClusterClient } from "@troupe/cluster"
 * import { Account } from "./account.ts"
 *
 * const program = Effect.gen(function*() {
 *   const accounts = yield* ClusterClient.refs(Account)
 *   yield* accounts.get("alice").ask("Deposit", { amount: 10 })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const refs = <A extends Actor.Any>(
  actor: A,
  options: Options = {}
): Effect.Effect<KeyedRefs.KeyedRefs<A>, InvalidOption, Sharding.Sharding> =>
  Effect.gen(function* () {
    const invalid = Check.optionsObject("options", options) ?? Check.positiveDuration("askTimeout", options?.askTimeout)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const { entity, messages } = clusterActorOf(actor)
    const sharding = yield* Sharding.Sharding
    const clientFor = (yield* entity.client) as unknown as (key: string) => AnyClient
    const timeout = Duration.fromInputUnsafe(options?.askTimeout ?? Duration.seconds(30))
    const timeoutMs = Duration.toMillis(timeout)
    // Messages sent from this process and not answered yet, by key: the part of the mailbox a caller can see.
    const pending = new Map<string, number>()

    // A key's cluster client is made once while the key is in use: making one hashes the key to its shard.
    const clients = new Map<string, AnyClient>()
    const clientOf = (key: string): AnyClient => {
      let client = clients.get(key)
      if (client === undefined) {
        if (clients.size >= maxClients) clients.delete(clients.keys().next().value!)
        client = clientFor(key)
        clients.set(key, client)
      }
      return client
    }
    const done = (key: string) => {
      const left = (pending.get(key) ?? 1) - 1
      if (left === 0) pending.delete(key)
      else pending.set(key, left)
    }

    const send = (key: string, tag: string, payload: unknown, discard: boolean): Effect.Effect<unknown, unknown> =>
      Effect.suspend(() => {
        const task = `${actor.name}.${tag}`
        const badKey = keyRefusal(key)
        if (badKey !== undefined) return Effect.fail(new RequestValidationError({ task, message: badKey }))
        // Encoded once, here, with a local ask's checks: the runner forwards it as it is, and the instance's host
        // decodes it.
        const encoded = Keyed.encodePayload(actor, tag, payload)
        if (Exit.isFailure(encoded)) return encoded
        const message = messages.get(tag)!
        // Over the limit, it would not reach the runner, and would break the connection for later messages.
        const refused = refusePayload(encoded.value)
        if (refused !== undefined) return Effect.fail(askRefusal(task, refused))
        const sent = clientOf(key)[tag]!(encoded.value, discard ? { discard: true } : undefined).pipe(
          failWhenStopped(
            sharding,
            () => entityStopped(actor.name, key),
            () => clientShutDown(actor.name, key)
          ),
          Effect.mapError((error) => fromClusterError(actor.name, key, error))
        )
        const answered = discard ? sent : Effect.flatMap(sent, (reply) => fromWire(task, message, reply))
        // A node shutting down sends nothing more.
        const call = Effect.flatMap(sharding.isShutdown, (down) =>
          down
            ? Effect.fail(
                new ActorDied({
                  actor: actor.name,
                  key,
                  reason: "this node's cluster client is shut down: the message was not sent"
                })
              )
            : answered
        )
        const timedOut = () => new AskTimeout({ actor: actor.name, key, tag, timeoutMs: Duration.toMillis(timeout) })
        return Effect.withFiber((parent) => {
          pending.set(key, (pending.get(key) ?? 0) + 1)
          if (Context.get(parent.context, Clock.Clock) !== liveClock || timeoutMs > maxTimerMillis) {
            return call.pipe(
              Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(timedOut()) }),
              Effect.ensuring(Effect.sync(() => done(key)))
            )
          }
          // Under the live clock, one fiber and one timer bound an ask: a race of the call with a sleep forks two
          // fibers per ask and interrupts the loser.
          return Effect.callback<unknown, unknown>((resume) => {
            let settled = false
            const settle = (exit: Exit.Exit<unknown, unknown>) => {
              if (settled) return
              settled = true
              clearTimeout(timer)
              done(key)
              resume(exit)
            }
            const fiber = Effect.runForkWith(parent.context)(call)
            const timer = setTimeout(() => {
              settle(Exit.fail(timedOut()))
              fiber.interruptUnsafe(parent.id)
            }, timeoutMs)
            fiber.addObserver(settle)
            return Effect.suspend(() => {
              if (!settled) {
                settled = true
                clearTimeout(timer)
                done(key)
              }
              return Fiber.interrupt(fiber)
            })
          })
        })
      })

    return {
      actor,
      get: (key) => {
        // A key that is not a string (from a caller without types) would hash to no entity: refused at once.
        if (typeof key !== "string") throw expected("KeyedRefs.get", "a string key", key)
        return {
          actor,
          key,
          ask: ((tag: string, payload: unknown) => send(key, tag, payload, false)) as Actor.ActorRef<A>["ask"],
          tell: ((tag: string, payload: unknown) =>
            Effect.asVoid(send(key, tag, payload, true))) as Actor.ActorRef<A>["tell"],
          offer: ((tag: string, payload: unknown) =>
            Effect.asVoid(send(key, tag, payload, true))) as Actor.ActorRef<A>["offer"],
          depth: Effect.sync(() => pending.get(key) ?? 0)
        }
      }
    } satisfies KeyedRefs.KeyedRefs<A>
  })

/**
 * Provides an actor type's `KeyedRefs` service from a cluster: the Layer that
 * replaces `KeyedRefs.layerLocal` when the program moves to a cluster. Needs
 * `Sharding` (`ClusterNode.layerClient` or a runner's layer).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ClusterClient, ClusterNode } from "@troupe/cluster"
 * import { Accounts } from "./account.ts"
 *
 * const AccountsOnCluster = ClusterClient.layer(Accounts).pipe(
 *   Layer.provide(ClusterNode.layerClient({ database: "postgres://127.0.0.1:5432/bank" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <A extends Actor.Any>(
  tag: KeyedRefs.Tag<A>,
  options?: Options
): Layer.Layer<KeyedRefs.KeyedRefs<A>, InvalidOption, Sharding.Sharding> => Layer.effect(tag, refs(tag.actor, options))
