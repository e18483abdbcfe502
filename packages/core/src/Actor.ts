/**
 * Actors: long-lived, stateful, addressed by name or key, speaking a protocol
 * of several messages.
 *
 * An actor type is a name and a protocol of `Rpc`s (`effect/rpc`): each
 * message has a payload, success and error Schema. `make` defines it once,
 * at the top level of a module, shared by parents and children. The same
 * name and `Rpc`s make an `effect/cluster` `Entity` (`ActorEntity.toEntity`),
 * and a behaviour's handlers have the shape `Entity.toLayer` expects, so the
 * definition runs on a cluster unchanged.
 *
 * A behaviour is an Effect that builds the actor's state (a `Ref`, a cache, a
 * connection) and returns one handler per message. It runs inside a child
 * process, many actors to a child when they are keyed. `behaviour` registers
 * it under the actor's name, like `Task.make`: a child imports the module
 * that defined it and finds it by name.
 *
 * Clients hold an `ActorRef`: `ask` waits for the decoded reply or typed
 * error, `tell` returns once the message is in the mailbox, `offer` fails at
 * once with `MailboxFull` instead of waiting for room. Refs come from a
 * `Supervisor` (named workers) or a `Keyed` group (one actor per key).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ActorRefs from "./internal/actor/actorRefs.ts"
import * as Registry from "./internal/actor/actorRegistry.ts"
import { callerModuleUrl } from "./internal/callsite.ts"
import { firstInvalid, nonEmptyString, oneOf, refuse } from "./internal/options.ts"
import { type AskError, InvalidOption, type MailboxFull } from "./TroupeError.ts"

const TypeId = "~@troupe/core/Actor" as const
const BehaviourTypeId = "~@troupe/core/Actor/Behaviour" as const

/**
 * An actor type: a name and a protocol of request/response messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Actor<Name extends string, Rpcs extends Rpc.Any> {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly protocol: RpcGroup.RpcGroup<Rpcs>
}

/**
 * Any actor type.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Actor<string, any>

/**
 * The messages of an actor type.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Messages<A> = A extends Actor<infer _N, infer R> ? R : never

/**
 * Defines an actor type from its messages. Throws an `InvalidOption` for a
 * name that is not a non-empty string, or a protocol that is not an array of
 * `Rpc.make` messages with distinct tags.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Rpc } from "effect/rpc"
 * import { Actor } from "@troupe/core"
 *
 * export const Counter = Actor.make("Counter", [
 *   Rpc.make("Increment", { payload: { by: Schema.Int }, success: Schema.Int }),
 *   Rpc.make("Get", { success: Schema.Int })
 * ])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string, const Rpcs extends ReadonlyArray<Rpc.Any>>(
  name: Name,
  protocol: Rpcs
): Actor<Name, Rpcs[number]> => {
  const invalid = firstInvalid(nonEmptyString("name", name), protocolRefusal(protocol))
  if (invalid !== undefined) throw invalid
  return {
    [TypeId]: TypeId,
    name,
    protocol: RpcGroup.make(...protocol) as unknown as RpcGroup.RpcGroup<Rpcs[number]>
  }
}

/** Why `protocol` is not one: an array of `Rpc.make` messages, each tag once. */
const protocolRefusal = (protocol: unknown): InvalidOption | undefined => {
  if (!Array.isArray(protocol)) return refuse("protocol", "must be an array of messages made by Rpc.make", protocol)
  const tags = new Set<string>()
  for (const [index, message] of protocol.entries()) {
    if (!Rpc.isRpc(message)) return refuse("protocol", `[${index}] must be a message made by Rpc.make`, message)
    const tag = (message as Rpc.Any)._tag
    if (tags.has(tag))
      return new InvalidOption({ option: "protocol", reason: `has two messages tagged ${JSON.stringify(tag)}` })
    tags.add(tag)
  }
  return undefined
}

/**
 * What a handler receives: the decoded payload, the message's tag, and the
 * actor's address. It is a subset of `effect/cluster`'s `Envelope.Request`,
 * so the same handlers serve an `Entity`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request<R extends Rpc.Any> {
  readonly payload: Rpc.Payload<R>
  readonly tag: Rpc.Tag<R>
  readonly address: { readonly entityType: string; readonly entityId: string }
}

/**
 * One handler per message: the request in, the message's success or typed
 * error out.
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<Rpcs extends Rpc.Any> = {
  readonly [R in Rpcs as R["_tag"]]: (request: Request<R>) => Effect.Effect<Rpc.Success<R>, Rpc.Error<R>, ActorContext>
}

/**
 * What happens to an actor's state when a handler fails with its typed
 * error: `"resume"` keeps it (the caller gets the error, the next message
 * sees the same state); `"restart"` builds the behaviour again (fresh state,
 * or the last snapshot). A defect (a throw, a `die`) always restarts: an
 * actor alone in its process exits abnormally, so that its supervisor
 * decides; a keyed actor is rebuilt in place.
 *
 * @since 0.1.0
 * @category models
 */
export type OnFailure = "resume" | "restart"

/**
 * A behaviour: how to build one instance of an actor, registered under the
 * actor's name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Behaviour<A extends Any> {
  readonly [BehaviourTypeId]: typeof BehaviourTypeId
  readonly actor: A
  /** The URL of the module a child imports to find this behaviour. */
  readonly module: string
  readonly build: Effect.Effect<Handlers<Messages<A>>, unknown, ActorContext | Scope.Scope>
  readonly onFailure: OnFailure
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isBehaviour = (u: unknown): u is Behaviour<Any> =>
  typeof u === "object" && u !== null && BehaviourTypeId in u

/**
 * The behaviour registered for an actor type in this process, if a loaded
 * module defines one. Used by the child that hosts the actor.
 *
 * @since 0.1.0
 * @category lookup
 */
export const find = (name: string): Behaviour<Any> | undefined => Registry.find(name) as Behaviour<Any> | undefined

/**
 * Defines how an actor behaves, and registers it so that a child can find it.
 *
 * **When to use**
 *
 * At the top level of a module, as with `Task.make`: the child imports the
 * module and looks the behaviour up by the actor's name.
 *
 * **Details**
 *
 * `build` runs in the child each time the actor starts (its first message for
 * a keyed actor, its start for a supervised one, and after every restart), in
 * a `Scope` that closes when the actor stops: finalizers are the actor's
 * `terminate`. State built with `Ref.make` starts fresh after a restart; use
 * `persistedRef` to carry it across crashes. Handlers run one at a time, in
 * mailbox order. Throws an `InvalidOption` for an `actor` not made by
 * `Actor.make`, a `build` that is not an Effect, or an unknown `onFailure`.
 *
 * @example
 * ```ts
 * import { Effect, Ref, Schema } from "effect"
 * import { Rpc } from "effect/rpc"
 * import { Actor } from "@troupe/core"
 *
 * export const Counter = Actor.make("Counter", [
 *   Rpc.make("Increment", { payload: { by: Schema.Int }, success: Schema.Int }),
 *   Rpc.make("Get", { success: Schema.Int })
 * ])
 *
 * export const CounterBehaviour = Actor.behaviour(Counter, Effect.gen(function*() {
 *   const count = yield* Ref.make(0)
 *   return {
 *     Increment: ({ payload }) => Ref.updateAndGet(count, (n) => n + payload.by),
 *     Get: () => Ref.get(count)
 *   }
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const behaviour = <A extends Any>(
  actor: A,
  build: Effect.Effect<Handlers<Messages<A>>, unknown, ActorContext | Scope.Scope>,
  options?: {
    readonly onFailure?: OnFailure | undefined
    readonly module?: string | undefined
  }
): Behaviour<A> => {
  const invalid = firstInvalid(
    typeof actor === "object" && actor !== null && TypeId in actor
      ? undefined
      : refuse("actor", "must be an actor made by Actor.make", actor),
    Effect.isEffect(build) ? undefined : refuse("build", "must be an Effect that builds the handlers", build),
    oneOf("onFailure", options?.onFailure, ["resume", "restart"])
  )
  if (invalid !== undefined) throw invalid
  const moduleUrl = options?.module === undefined ? callerModuleUrl(behaviour) : () => options.module!
  if (moduleUrl === undefined) {
    throw new globalThis.Error(
      `Actor.behaviour(${actor.name}): cannot tell which module defines it; pass { module: import.meta.url }`
    )
  }
  const value: Behaviour<A> = {
    [BehaviourTypeId]: BehaviourTypeId,
    actor,
    // Read on first use: inside a worker bundle, finding the original module reads the bundle's source map.
    get module() {
      return moduleUrl()
    },
    build,
    onFailure: options?.onFailure ?? "resume"
  }
  Registry.register(value as unknown as Registry.BehaviourShape)
  return value
}

/**
 * How a stopping actor ended, in OTP's terms: `"normal"` and `"shutdown"`
 * are deliberate; anything else (a crash, a kill) is abnormal.
 *
 * @since 0.1.0
 * @category models
 */
export type StopReason = "normal" | "shutdown"

/**
 * The actor's view of itself, inside its behaviour and handlers: its name,
 * its key, `exit` and `persistedRef`.
 *
 * @since 0.1.0
 * @category services
 */
export const ActorContext = Registry.ActorContext

/**
 * @since 0.1.0
 * @category services
 */
export type ActorContext = Registry.ActorContext

/**
 * Stops the actor once the current message is answered, with an OTP exit
 * reason. An actor alone in its process (a supervised worker) ends its
 * process, and its supervisor applies the restart type: a `transient` child
 * is not restarted after `"normal"` or `"shutdown"`. A keyed actor is
 * passivated; its next message starts it again. Any other reason is a
 * defect (an `InvalidOption`) of the handler that calls it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@troupe/core"
 *
 * const handleQuit = () => Actor.exit("normal")
 * ```
 *
 * @since 0.1.0
 * @category child
 */
export const exit = (reason: StopReason = "normal"): Effect.Effect<void, never, ActorContext> =>
  reason === "normal" || reason === "shutdown"
    ? ActorContext.use((context) => context.exit(reason))
    : Effect.die(refuse("reason", 'must be "normal" or "shutdown"', reason))

/**
 * Tells the actor's supervisor that it is healthy (Akka's manual backoff
 * reset): its run of consecutive failures ends, so its next crash backs off
 * from the backoff's `min` again, however short its run was. Useful when a
 * start is not a sign of health (a connection that must first succeed). The
 * intensity window is kept: OTP counts every restart. Outside a supervision
 * tree (a keyed actor) nobody listens.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@troupe/core"
 *
 * declare const connect: Effect.Effect<void>
 *
 * const build = Effect.gen(function*() {
 *   yield* connect
 *   yield* Actor.healthy
 *   return {}
 * })
 * ```
 *
 * @since 0.1.0
 * @category child
 */
export const healthy: Effect.Effect<void, never, ActorContext> = ActorContext.use((context) => context.healthy)

/**
 * Declines to start, from the behaviour's build: OTP's `init` returning
 * `ignore`. A supervised worker is then kept in its supervisor, not running
 * (`whichChildren` shows it `stopped`, a `ChildIgnored` event says why);
 * `restartChild`, or a restart of its group (`oneForAll`, `restForOne`),
 * starts it again, and it comes up once the build no longer ignores it;
 * meanwhile a message to it fails at once with `ActorDied`. As in OTP, a
 * `temporary` worker or a dynamic supervisor's child is not kept.
 * Outside a supervisor (a keyed actor), it is a failed start.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@troupe/core"
 *
 * const build = Effect.gen(function*() {
 *   if (process.env.FEATURE_ON !== "1") return yield* Actor.ignore
 *   return { Ping: () => Effect.succeed("pong") }
 * })
 * ```
 *
 * @since 0.1.0
 * @category child
 */
export const ignore: Effect.Effect<never> = Effect.die(
  Object.assign(new Error("the actor ignored its start"), { name: Registry.ignoredName })
)

/**
 * A `Ref` whose value survives a crash of the actor's process.
 *
 * **Details**
 *
 * After each message the child encodes the value with `schema` and sends it
 * with the reply; the parent keeps the last one. When the actor starts again
 * after a crash (or after passivation), the `Ref` starts from that snapshot
 * instead of `initial`. The snapshot travels with the reply, so the
 * restored state reflects exactly the answered messages; a message that was
 * running when the process died is not in it, and with crash retries it runs
 * again. Its effects outside the persisted state (a file, a network call)
 * may then happen twice. One `persistedRef` per actor. A stored snapshot
 * that `schema` no longer decodes fails it with the `SchemaError`, and so
 * the build: the instance does not start, and its state is kept.
 *
 * @example
 * ```ts
 * import { Effect, Ref, Schema } from "effect"
 * import { Actor } from "@troupe/core"
 *
 * const build = Effect.gen(function*() {
 *   const count = yield* Actor.persistedRef(Schema.Int, 0)
 *   return { Get: () => Ref.get(count) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category child
 */
export const persistedRef = <S extends Schema.Top>(
  schema: S,
  initial: S["Type"]
): Effect.Effect<
  Ref.Ref<S["Type"]>,
  Schema.SchemaError,
  ActorContext | S["DecodingServices"] | S["EncodingServices"]
> => ActorContext.use((context) => context.persistedRef(schema, initial))

/**
 * The actor's start arguments, decoded with `schema`: what
 * `startChild(args)` gave a dynamic supervisor's child whose template
 * declares `args` (OTP's `simple_one_for_one` passing extra arguments to the
 * child's start function). The supervisor encodes them with the template's
 * Schema and sends them with every activation, so a restarted child reads
 * the same arguments. An actor started without arguments decodes
 * `undefined`; a value that does not decode fails the build (the child does
 * not start: `ChildStartFailed`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Actor } from "@troupe/core"
 *
 * const ConnectionArgs = Schema.Struct({ host: Schema.String, port: Schema.Int })
 *
 * const build = Effect.gen(function*() {
 *   const { host, port } = yield* Actor.startArgs(ConnectionArgs)
 *   return { Where: () => Effect.succeed(`${host}:${port}`) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category child
 */
export const startArgs = <S extends Schema.Top>(
  schema: S
): Effect.Effect<S["Type"], Schema.SchemaError, ActorContext | S["DecodingServices"]> =>
  ActorContext.use((context) => context.startArgs(schema))

/**
 * Mailbox settings of one actor.
 *
 * - `capacity` (default 1000): messages waiting or being handled; beyond it
 *   `ask`/`tell` wait for room and `offer` fails with `MailboxFull`.
 * - `stashCapacity` (default `capacity`): while the actor is restarting or
 *   backing off, a message beyond this many fails at once with `MailboxFull`
 *   instead of waiting (Akka's restart stash).
 * - `retries` (default 0, at most once): how many times a message is sent
 *   again when the actor's process died while handling it. Messages behind it
 *   wait for the retry; answered messages never run again.
 * - `askTimeout` (default 30 seconds): the bound on one `ask`, from the call,
 *   mailbox wait and restarts included.
 *
 * @since 0.1.0
 * @category models
 */
export interface MailboxOptions {
  readonly capacity?: number | undefined
  readonly stashCapacity?: number | undefined
  readonly retries?: number | undefined
  readonly askTimeout?: Duration.Input | undefined
}

/**
 * A client of one actor instance, typed from its protocol.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Actor } from "@troupe/core"
 *
 * declare const counter: Actor.ActorRef<any>
 * const program = Effect.gen(function*() {
 *   yield* counter.tell("Increment", { by: 1 })
 *   return yield* counter.ask("Get", undefined)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ActorRef<A extends Any> {
  readonly actor: A
  readonly key: string
  /** Sends a message and waits for its decoded success or typed error. Waits for mailbox room. */
  readonly ask: <Tag extends Messages<A>["_tag"]>(
    tag: Tag,
    payload: Rpc.Payload<Rpc.ExtractTag<Messages<A>, Tag>>
  ) => Effect.Effect<
    Rpc.Success<Rpc.ExtractTag<Messages<A>, Tag>>,
    Rpc.Error<Rpc.ExtractTag<Messages<A>, Tag>> | AskError
  >
  /** Puts a message in the mailbox (waiting for room) and returns; the reply is dropped. */
  readonly tell: <Tag extends Messages<A>["_tag"]>(
    tag: Tag,
    payload: Rpc.Payload<Rpc.ExtractTag<Messages<A>, Tag>>
  ) => Effect.Effect<void, AskError>
  /**
   * `tell` that does not wait for room: `MailboxFull` at once, or after
   * `wait` if given. A `wait` that is not a duration of zero or more is an
   * `InvalidOption`, and nothing is sent.
   */
  readonly offer: <Tag extends Messages<A>["_tag"]>(
    tag: Tag,
    payload: Rpc.Payload<Rpc.ExtractTag<Messages<A>, Tag>>,
    options?: { readonly wait?: Duration.Input | undefined }
  ) => Effect.Effect<void, AskError | MailboxFull | InvalidOption>
  /** Messages in the mailbox now: waiting, and sent but not answered. */
  readonly depth: Effect.Effect<number>
}

/**
 * The Schema of a ref to an actor of type `actor`, for task payloads,
 * replies and actor messages: a ref travels, and is usable in any process.
 *
 * **Details**
 *
 * In a child, `ask`, `tell`, `offer` and `depth` of a ref that came in a
 * message are calls through the channel to the parent, which runs them on
 * the real ref: the same mailbox, the same typed errors (`MailboxFull`,
 * `ActorDied`, `AskTimeout`, the message's own error). Interrupting an `ask`
 * in the child interrupts it in the parent. A call that cannot reach the
 * parent, or whose supervisor or keyed group has closed, fails with
 * `ActorDied`. Messages from one sender to one actor arrive in the order
 * sent. Back in the parent, the ref decodes to the parent's own ref.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Rpc } from "effect/rpc"
 * import { Actor } from "@troupe/core"
 *
 * export const Pong = Actor.make("Pong", [Rpc.make("Ping", { payload: { n: Schema.Int } })])
 * export const Ping = Actor.make("Ping", [
 *   Rpc.make("Start", { payload: { pong: Actor.refSchema(Pong), n: Schema.Int } })
 * ])
 *
 * export const PingBehaviour = Actor.behaviour(Ping, Effect.succeed({
 *   Start: ({ payload }) => payload.pong.tell("Ping", { n: payload.n }).pipe(Effect.orDie)
 * }))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const refSchema: <A extends Any>(actor: A) => Schema.Codec<ActorRef<A>, typeof ActorRefs.RefEncoded.Encoded> =
  ActorRefs.refSchema
