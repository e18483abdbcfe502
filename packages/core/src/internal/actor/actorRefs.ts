/**
 * Actor refs that travel: the Schema behind `Actor.refSchema`.
 *
 * Encoding a ref in the process that holds the actor (the parent of its
 * host) hosts the actor as an endpoint and sends its id: one endpoint per
 * actor, made the first time a ref to it is sent and reused after, released
 * when the supervisor or keyed group that owns the actor closes (its
 * `OwnedEndpoints`), so a process that sends refs in messages keeps a
 * bounded registry.
 * Decoding it there gives that ref back; anywhere else (a child, a
 * grandchild) it gives a ref whose `ask`, `tell`, `offer` and `depth` are
 * calls through the channel to that endpoint, which runs the same method of
 * the real ref. The message's payload and success travel encoded by the
 * actor's protocol, and the failure by the message's error Schema together
 * with every `AskError`, so a caller in a child sees the same typed errors
 * as one in the parent. A call that cannot reach the actor (its group
 * closed, the parent gone) is an `ActorDied` that says so.
 *
 * A message from a child to an actor whose mailbox this process holds goes
 * through encoded (`ActorCell.relay`): this process neither decodes its
 * payload nor encodes its reply again; the actor's own child decodes it with
 * the message's Schema, so a bad payload is still a typed error for the
 * sender.
 *
 * Messages from one caller to one actor keep their order: each call returns
 * once the parent has put the message in the mailbox (`tell`) or has its
 * reply (`ask`).
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as DurationModule from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Actor from "../../Actor.ts"
import {
  ActorDied,
  AskTimeout,
  ChannelError,
  MailboxFull,
  RemoteDefect,
  ReplyValidationError,
  RequestValidationError,
  ResultEncodeError,
  SpawnError
} from "../../TroupeError.ts"
import { nonNegativeDuration } from "../options.ts"
import * as Codec from "../wire/codec.ts"
import * as Endpoints from "../wire/endpoints.ts"
import type { Reply } from "../wire/frame.ts"
import * as ParentLink from "../wire/parentLink.ts"
import type { ActorCell } from "./actorCell.ts"
import { messageCodable } from "./actorRegistry.ts"

type Mode = "ask" | "tell" | "offer"

const askErrors = [
  MailboxFull,
  ActorDied,
  AskTimeout,
  RequestValidationError,
  ReplyValidationError,
  ResultEncodeError,
  RemoteDefect,
  SpawnError
] as const

const AskErrorSchema = Schema.Union(askErrors)

const depthCodable: Codec.Codable = {
  name: "depth",
  payloadSchema: Schema.Void,
  successSchema: Schema.Number,
  errorSchema: Schema.Never
}

const codables = new WeakMap<object, Map<Mode, Codec.Codable>>()

/** The codec view of message `tag` sent with `mode` through the channel: its reply carries `AskError`s too. */
const channelCodable = (actor: Actor.Any, tag: string, mode: Mode): Codec.Codable | undefined => {
  const message = messageCodable(actor, tag)
  if (message === undefined) return undefined
  let byMode = codables.get(message)
  if (byMode === undefined) {
    byMode = new Map()
    codables.set(message, byMode)
  }
  let codable = byMode.get(mode)
  if (codable === undefined) {
    codable =
      mode === "ask"
        ? { ...message, errorSchema: Schema.Union([message.errorSchema, AskErrorSchema]) }
        : { ...message, successSchema: Schema.Void, errorSchema: AskErrorSchema }
    byMode.set(mode, codable)
  }
  return codable
}

/** A method on the wire: the mode, the `offer` wait in milliseconds if any, and the message's tag. */
const methodOf = (mode: Mode, tag: string, waitMs?: number): string =>
  waitMs === undefined ? `${mode} ${tag}` : `${mode}@${waitMs} ${tag}`

const parseMethod = (method: string): { mode: Mode; waitMs: number | undefined; tag: string } | undefined => {
  const space = method.indexOf(" ")
  if (space < 0) return undefined
  const head = method.slice(0, space)
  const at = head.indexOf("@")
  const mode = (at < 0 ? head : head.slice(0, at)) as Mode
  if (mode !== "ask" && mode !== "tell" && mode !== "offer") return undefined
  const waitMs = at < 0 ? undefined : Number(head.slice(at + 1))
  if (waitMs !== undefined && !(waitMs >= 0)) return undefined
  return { mode, waitMs, tag: method.slice(space + 1) }
}

const unknownMessage = (actor: string, method: string): Reply => ({
  _tag: "Defect",
  name: "UnknownMessage",
  message: `actor ${actor} cannot take ${method} through the channel`
})

/** A `tell` or `offer` relayed into the mailbox: the channel's reply for it (`void`, as its JSON codec encodes it). */
const relayedTell: Reply = { _tag: "Success", value: null }

/**
 * The channel's reply to a relayed message: the instance's own reply as it
 * came when it is a success or a typed failure (both encoded as the channel
 * codable encodes them); anything else (a defect, a spawn failure) and the
 * mailbox's failures decoded and encoded again, as a call run here would
 * reply, since they are rare and their errors carry where they arose.
 */
const relayReply = (
  codable: Codec.Codable,
  message: Codec.Codable,
  module: string,
  outcome: Effect.Effect<Reply | undefined, unknown>
): Effect.Effect<Reply> =>
  Effect.matchCauseEffect(outcome, {
    onSuccess: (reply) =>
      reply === undefined
        ? Effect.succeed(relayedTell)
        : reply._tag === "Success" || reply._tag === "Failure"
          ? Effect.succeed(reply)
          : Codec.replyOf(codable, Codec.decodeReply(message, { module }, reply)),
    onFailure: (cause) => Codec.replyOf(codable, Effect.failCause(cause))
  })

/**
 * The endpoint that runs calls from other processes on `ref`. With `cell`
 * (the actor's mailbox is in this process), messages go through encoded.
 */
const endpointFor = (ref: Actor.ActorRef<Actor.Any>, cell?: () => ActorCell): Endpoints.Endpoint => ({
  name: ref.actor.name,
  local: ref,
  handle: (method, payload) => {
    if (method === "depth") return Codec.runInChild(depthCodable, payload, () => ref.depth)
    const parsed = parseMethod(method)
    const codable = parsed && channelCodable(ref.actor, parsed.tag, parsed.mode)
    if (parsed === undefined || codable === undefined) return Effect.succeed(unknownMessage(ref.actor.name, method))
    const wait = parsed.waitMs === undefined ? undefined : DurationModule.millis(parsed.waitMs)
    if (cell !== undefined) {
      const target = cell()
      return relayReply(
        codable,
        messageCodable(ref.actor, parsed.tag)!,
        target.behaviour.module,
        target.relay(parsed.tag, payload, parsed.mode, wait)
      )
    }
    return Codec.runInChild(codable, payload, (decoded) => {
      switch (parsed.mode) {
        case "ask":
          return ref.ask(parsed.tag, decoded)
        case "tell":
          return ref.tell(parsed.tag, decoded)
        case "offer":
          return ref.offer(parsed.tag, decoded, wait === undefined ? undefined : { wait })
      }
    })
  }
})

/**
 * The endpoints of one owner's actors (a supervisor's workers, a keyed
 * group's keys), by actor key: one per actor, made when a ref to it is first
 * sent, released together when the owner closes. After that, a ref sent
 * names no endpoint, and a call to it fails as one to a closed service.
 */
export class OwnedEndpoints {
  private readonly ids = new Map<string, string>()
  private closed = false

  /** The endpoint of the actor at `key`, made with `make` the first time. */
  idOf(key: string, make: () => Endpoints.Endpoint): string {
    if (this.closed) return "closed"
    let id = this.ids.get(key)
    if (id === undefined) {
      id = Endpoints.register(make())
      this.ids.set(key, id)
    }
    return id
  }

  /** Releases every endpoint: the owner closed. */
  release(): void {
    this.closed = true
    for (const id of this.ids.values()) Endpoints.unregister(id)
    this.ids.clear()
  }
}

/** Where a ref made in the process that holds the actor's mailbox finds it, and its owner's endpoints. */
export interface Route {
  readonly cell: () => ActorCell
  readonly endpoints: OwnedEndpoints
}

const routeKey = Symbol.for("@troupe/core/Actor/route")
const endpointKey = Symbol.for("@troupe/core/Actor/endpoint")
type Addressable = Actor.ActorRef<Actor.Any> & { readonly [endpointKey]?: string; readonly [routeKey]?: Route }
const hosted = new WeakMap<object, string>()

/** Marks a ref made where its actor's mailbox is: sent, it is hosted once per actor and relayed encoded. */
export const withRoute = <A extends Actor.Any>(ref: Actor.ActorRef<A>, route: Route): Actor.ActorRef<A> =>
  Object.assign(ref, { [routeKey]: route })

/**
 * The endpoint id of `ref`: its own for a ref that came through the channel,
 * its actor's for a ref with a route, else one hosted here for this ref.
 */
const endpointOf = (ref: Addressable): string => {
  const own = ref[endpointKey]
  if (own !== undefined) return own
  const route = ref[routeKey]
  if (route !== undefined) return route.endpoints.idOf(ref.key, () => endpointFor(ref, route.cell))
  let id = hosted.get(ref)
  if (id === undefined) {
    id = Endpoints.register(endpointFor(ref))
    hosted.set(ref, id)
  }
  return id
}

const unreachable = (actor: string, key: string) => (error: ChannelError) =>
  new ActorDied({ actor, key, reason: `unreachable: ${error.message}` })

/** A ref to the actor hosted as `endpoint` in another process: every use is a call through the channel. */
const remoteRef = <A extends Actor.Any>(actor: A, key: string, endpoint: string): Actor.ActorRef<A> => {
  const send = (mode: Mode, tag: string, payload: unknown, wait?: Duration.Input) =>
    Effect.suspend(() => {
      const codable = channelCodable(actor, tag, mode)
      if (codable === undefined) {
        return Effect.fail(
          new RequestValidationError({
            task: `${actor.name}.${tag}`,
            message: `actor ${actor.name} has no message ${tag}`
          })
        )
      }
      const badWait = nonNegativeDuration("wait", wait)
      if (badWait !== undefined) return Effect.fail(badWait)
      const waitMs = wait === undefined ? undefined : DurationModule.toMillis(wait)
      return ParentLink.callWith(actor.name, endpoint, methodOf(mode, tag, waitMs), codable, payload).pipe(
        Effect.catchIf(
          (error): error is ChannelError => error instanceof ChannelError,
          (error) => Effect.fail(unreachable(actor.name, key)(error))
        )
      )
    })
  const ref: Addressable = {
    actor,
    key,
    [endpointKey]: endpoint,
    ask: ((tag: string, payload: unknown) => send("ask", tag, payload)) as Addressable["ask"],
    tell: ((tag: string, payload: unknown) => send("tell", tag, payload)) as Addressable["tell"],
    offer: ((tag: string, payload: unknown, options?: { readonly wait?: Duration.Input | undefined }) =>
      send("offer", tag, payload, options?.wait)) as Addressable["offer"],
    depth: ParentLink.callWith(actor.name, endpoint, "depth", depthCodable, undefined).pipe(
      Effect.orElseSucceed(() => 0)
    ) as Effect.Effect<number>
  }
  return ref as Actor.ActorRef<A>
}

/** A ref as it travels. */
export const RefEncoded = Schema.Struct({ actor: Schema.String, key: Schema.String, endpoint: Schema.String })

/** See `Actor.refSchema`. */
export const refSchema = <A extends Actor.Any>(actor: A): Schema.Codec<Actor.ActorRef<A>, typeof RefEncoded.Encoded> =>
  Schema.Struct({ actor: Schema.Literal(actor.name), key: Schema.String, endpoint: Schema.String }).pipe(
    Schema.decodeTo(
      Schema.declare(
        (u): u is Actor.ActorRef<A> =>
          typeof u === "object" &&
          u !== null &&
          typeof (u as Actor.ActorRef<A>).ask === "function" &&
          (u as Actor.ActorRef<A>).actor?.name === actor.name
      ),
      SchemaTransformation.transform({
        decode: (encoded): Actor.ActorRef<A> =>
          (Endpoints.find(encoded.endpoint)?.local as Actor.ActorRef<A> | undefined) ??
          remoteRef(actor, encoded.key, encoded.endpoint),
        encode: (ref) => ({ actor: actor.name, key: ref.key, endpoint: endpointOf(ref as Addressable) })
      })
    )
  ) as any
