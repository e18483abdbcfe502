/**
 * The `effect/cluster` entity a Troupe actor type runs as on a cluster, and
 * the form its messages take there.
 *
 * A message crosses the cluster as its instance's host process reads and
 * writes it: the payload in the JSON form of its Schema, encoded by the
 * caller, and the reply as the host encoded it (`Keyed.EncodedReply`),
 * decoded by the caller. The runner forwards both as they are, so neither is
 * decoded nor encoded in between: the payload is decoded once, in the host,
 * so a bad one is still the caller's `RequestValidationError`. What the
 * runner itself fails with (the host process died, the mailbox is full, the
 * handler died) travels as the entity's typed error, an `AskError`, so that
 * it reaches the caller as the same typed error a local `Keyed` group gives.
 */
import type * as Actor from "@troupe/core/Actor"
import type * as Keyed from "@troupe/core/Keyed"
import * as TroupeError from "@troupe/core/TroupeError"
import * as Entity from "effect/cluster/Entity"
import type * as Exit from "effect/Exit"
import type * as Rpc from "effect/rpc/Rpc"
import * as Schema from "effect/Schema"

/** The `AskError` members, as the Schemas that carry them over the wire. */
export const askErrors = [
  TroupeError.MailboxFull,
  TroupeError.ActorDied,
  TroupeError.AskTimeout,
  TroupeError.RequestValidationError,
  TroupeError.ReplyValidationError,
  TroupeError.ResultEncodeError,
  TroupeError.RemoteDefect,
  TroupeError.SpawnError
] as const

const AskError = Schema.Union(askErrors)

/** A message's payload on the wire: its JSON form (a `Void` payload's is `null`). */
const WirePayload = Schema.Unknown

/** A reply on the wire: the `Keyed.EncodedReply` the host sent. */
const WireReply = Schema.Unknown

type Codec = Schema.Codec<unknown, unknown>

/** How the replies of one message of an actor type are decoded by its callers (its payload: `Keyed.encodePayload`). */
export interface WireMessage {
  readonly tag: string
  readonly decodeSuccess: (value: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  /** The message's own error or an `AskError`. */
  readonly decodeError: (error: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  /** The message's own error or an `AskError`, as a stored reply carries it. */
  readonly encodeError: (error: unknown) => Exit.Exit<unknown, Schema.SchemaError>
}

/** An actor type on a cluster: its entity (one per actor type, shared by runners and clients) and its messages. */
export interface ClusterActor {
  readonly entity: Entity.Any
  readonly messages: ReadonlyMap<string, WireMessage>
}

const actors = new WeakMap<Actor.Any, ClusterActor>()

/** The entity of an actor type on a cluster, and how its messages are encoded there. */
export const clusterActorOf = (actor: Actor.Any): ClusterActor => {
  const known = actors.get(actor)
  if (known !== undefined) return known
  const messages = new Map<string, WireMessage>()
  const rpcs: Array<Rpc.AnyWithProps> = []
  for (const rpc of actor.protocol.requests.values() as Iterable<Rpc.AnyWithProps>) {
    const error = Schema.toCodecJson(Schema.Union([rpc.errorSchema, AskError]) as unknown as Codec)
    messages.set(rpc._tag, {
      tag: rpc._tag,
      decodeSuccess: Schema.decodeUnknownExit(Schema.toCodecJson(rpc.successSchema as Codec)),
      decodeError: Schema.decodeUnknownExit(error),
      encodeError: Schema.encodeUnknownExit(error)
    })
    // The message's annotations (`Persisted`, ...) stay: they tell the cluster how to deliver it.
    rpcs.push(
      (rpc as unknown as Rpc.Rpc<string, Schema.Struct<{}>>)
        .setPayload(WirePayload as never)
        .setSuccess(WireReply)
        .setError(AskError) as unknown as Rpc.AnyWithProps
    )
  }
  const known_ = { entity: Entity.make(actor.name, rpcs) as unknown as Entity.Any, messages }
  actors.set(actor, known_)
  return known_
}

/** A reply on the wire, as the runner sends it. */
export type WireReply = Keyed.EncodedReply
