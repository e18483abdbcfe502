/**
 * What a child needs to host actors, without the rest of `Actor`: the
 * registry of behaviours, the `ActorContext` service, and the codec view of
 * each message. Kept apart so that a task worker's runner does not load
 * `effect/rpc`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Ref from "effect/Ref"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Codable } from "../wire/codec.ts"

/** The parts of an actor type the runtime reads. */
export interface ActorShape {
  readonly name: string
  readonly protocol: { readonly requests: ReadonlyMap<string, Omit<Codable, "name">> }
}

/** The parts of a behaviour the runtime reads. */
export interface BehaviourShape {
  readonly actor: ActorShape
  readonly module: string
  readonly build: Effect.Effect<
    Record<string, (request: any) => Effect.Effect<unknown, unknown, ActorContext>>,
    unknown,
    ActorContext | Scope.Scope
  >
  readonly onFailure: "resume" | "restart"
}

/** The name of the defect `Actor.ignore` dies with, and of the reply that says an actor's start was ignored. */
export const ignoredName = "ActorIgnored"

/** See `Actor.ActorContext`. */
export class ActorContext extends Context.Service<
  ActorContext,
  {
    readonly name: string
    readonly key: string
    readonly exit: (reason: "normal" | "shutdown") => Effect.Effect<void>
    /** Tells the supervisor the actor is healthy: its backoff starts again from `min`. */
    readonly healthy: Effect.Effect<void>
    readonly persistedRef: <S extends Schema.Top>(
      schema: S,
      initial: S["Type"]
    ) => Effect.Effect<Ref.Ref<S["Type"]>, Schema.SchemaError, S["DecodingServices"] | S["EncodingServices"]>
    /** Its start arguments (a dynamic supervisor's child), decoded with `schema`; `undefined` is decoded when it has none. */
    readonly startArgs: <S extends Schema.Top>(
      schema: S
    ) => Effect.Effect<S["Type"], Schema.SchemaError, S["DecodingServices"]>
  }
>()("@troupe/core/Actor/ActorContext") {}

const registryKey = Symbol.for("@troupe/core/Actor/registry")
const registryHolder = globalThis as { [registryKey]?: Map<string, BehaviourShape> }
if (registryHolder[registryKey] === undefined) registryHolder[registryKey] = new Map()
const registry: Map<string, BehaviourShape> = registryHolder[registryKey]

export const register = (behaviour: BehaviourShape): void => {
  registry.set(behaviour.actor.name, behaviour)
}

export const find = (name: string): BehaviourShape | undefined => registry.get(name)

const codables = new WeakMap<object, Codable>()

/** The codec view of message `tag` of `actor`, or `undefined` when the protocol has no such message. */
export const messageCodable = (actor: ActorShape, tag: string): Codable | undefined => {
  const rpc = actor.protocol.requests.get(tag)
  if (rpc === undefined) return undefined
  let codable = codables.get(rpc)
  if (codable === undefined) {
    codable = {
      name: `${actor.name}.${tag}`,
      payloadSchema: rpc.payloadSchema,
      successSchema: rpc.successSchema,
      errorSchema: rpc.errorSchema
    }
    codables.set(rpc, codable)
  }
  return codable
}
