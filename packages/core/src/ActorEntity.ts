/**
 * The bridge from a Troupe actor to an `effect/cluster` `Entity`: the same
 * definition, run by Effect's cluster engine instead of a local supervisor.
 *
 * `toEntity` makes the entity with the actor's name and `Rpc`s, and
 * `toLayer` registers a behaviour's handlers with it: the handlers already
 * take `{ payload, tag, address }`, a subset of the cluster's request
 * envelope. On a cluster, `Actor.persistedRef` is a plain `Ref` (use the
 * cluster's own persistence, `ClusterSchema.Persisted`, for durable
 * messages) and `Actor.exit` does nothing (entities passivate after
 * `maxIdleTime`).
 *
 * Import it as `@troupe/core/ActorEntity`: it is kept out of the package
 * index so that programs and children that run actors locally never load
 * `effect/cluster`.
 *
 * @since 0.1.0
 */
import * as Entity from "effect/cluster/Entity"
import type * as Sharding from "effect/cluster/Sharding"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Actor from "./Actor.ts"
import { ActorContext } from "./internal/actor/actorRegistry.ts"
import * as StartArgs from "./internal/supervisor/startArgs.ts"

const entities = new WeakMap<Actor.Any, Entity.Any>()

/**
 * The cluster entity of an actor type: same name, same messages.
 *
 * @example
 * ```ts
 * import * as ActorEntity from "@troupe/core/ActorEntity"
 * import { Counter } from "./counter.ts"
 *
 * const CounterEntity = ActorEntity.toEntity(Counter)
 * // CounterEntity.type === "Counter"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toEntity = <A extends Actor.Any>(actor: A): Entity.Entity<A["name"], Actor.Messages<A>> => {
  let entity = entities.get(actor)
  if (entity === undefined) {
    entity = Entity.make(actor.name, [...actor.protocol.requests.values()])
    entities.set(actor, entity)
  }
  return entity as unknown as Entity.Entity<A["name"], Actor.Messages<A>>
}

/**
 * Registers a behaviour with the cluster's `Sharding`, as `Entity.toLayer`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { TestRunner } from "effect/cluster"
 * import * as ActorEntity from "@troupe/core/ActorEntity"
 * import { CounterBehaviour } from "./counter.ts"
 *
 * const CounterLive = ActorEntity.toLayer(CounterBehaviour).pipe(Layer.provideMerge(TestRunner.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const toLayer = <A extends Actor.Any>(
  behaviour: Actor.Behaviour<A>,
  options?: Parameters<Entity.Entity<A["name"], Actor.Messages<A>>["toLayer"]>[1]
) => {
  const entity = toEntity(behaviour.actor) as unknown as Entity.Any
  const build = Effect.gen(function* () {
    const address = yield* Entity.CurrentAddress
    const context = ActorContext.of({
      name: behaviour.actor.name,
      key: address.entityId,
      exit: () => Effect.void,
      healthy: Effect.void,
      persistedRef: (_schema, initial) => Ref.make(initial),
      startArgs: (schema) => StartArgs.decode(schema, undefined)
    })
    const handlers = (yield* behaviour.build.pipe(
      Effect.provideService(ActorContext, context),
      Effect.orDie
    )) as Record<string, (request: unknown) => Effect.Effect<unknown, unknown, ActorContext>>
    const provided: Record<string, (request: unknown) => Effect.Effect<unknown, unknown>> = {}
    for (const [tag, handler] of Object.entries(handlers)) {
      provided[tag] = (request) => Effect.provideService(handler(request), ActorContext, context)
    }
    return provided
  })
  return entity.toLayer(build as never, options) as unknown as Layer.Layer<never, never, Sharding.Sharding>
}
