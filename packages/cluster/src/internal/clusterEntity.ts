/**
 * The `effect/cluster` entity a Troupe actor type runs as on a cluster: the
 * actor's name and messages, each message's error widened with the errors
 * of an `ask` (`AskError`), so that a failure inside the runner (the host
 * process died, the mailbox is full, the handler died) reaches the caller as
 * the same typed error it would get from a local `Keyed` group.
 */
import type * as Actor from "@troupe/core/Actor"
import * as TroupeError from "@troupe/core/TroupeError"
import * as Entity from "effect/cluster/Entity"
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

const entities = new WeakMap<Actor.Any, Entity.Any>()

/** The entity of an actor type on a cluster (one per actor type, shared by runners and clients). */
export const entityOf = (actor: Actor.Any): Entity.Any => {
  const known = entities.get(actor)
  if (known !== undefined) return known
  const rpcs = [...actor.protocol.requests.values()].map((rpc: Rpc.Rpc<string, Schema.Top, Schema.Top, Schema.Top>) =>
    rpc.setError(Schema.Union([rpc.errorSchema, ...askErrors]))
  )
  const entity = Entity.make(actor.name, rpcs) as unknown as Entity.Any
  entities.set(actor, entity)
  return entity
}
