/**
 * The caller's side of keyed actors, whoever runs them: a service that gives
 * an `ActorRef` for a key. A program asks for the service; the Layer decides
 * where the instances live: `KeyedRefs.layerLocal` starts a `Keyed` group of
 * child processes on this machine (no database), `ClusterClient.layer`
 * reaches them on a cluster's runners. Moving a program from one machine to
 * a cluster is a change of that one Layer.
 *
 * This module loads neither `effect/cluster` nor a SQL driver.
 *
 * @since 0.1.0
 */
import type * as Actor from "@troupe/core/Actor"
import * as Keyed from "@troupe/core/Keyed"
import type { Transport } from "@troupe/core/Transport"
import type { ChildStartFailed, InvalidSupervisorSpec } from "@troupe/core/TroupeError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * Refs to the instances of one keyed actor type.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedRefs<A extends Actor.Any> {
  readonly actor: A
  /** The client of the instance for `key`: `ask`, `tell`, `offer` with the same typed errors everywhere. */
  readonly get: (key: string) => Actor.ActorRef<A>
}

/**
 * The service key of an actor type's refs, with the actor type it serves.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tag<A extends Actor.Any> extends Context.Key<KeyedRefs<A>, KeyedRefs<A>> {
  readonly actor: A
}

/**
 * The service of an actor type's refs. Define it once, next to the actor.
 *
 * @example
 * ```ts
 * import { KeyedRefs } from "@troupe/cluster"
 * import { Account } from "./account.ts"
 *
 * export const Accounts = KeyedRefs.Tag(Account)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const Tag = <A extends Actor.Any>(actor: A): Tag<A> =>
  Object.assign(Context.Service<KeyedRefs<A>, KeyedRefs<A>>(`@troupe/cluster/KeyedRefs/${actor.name}`), { actor })

/**
 * The refs of a `Keyed` group started on this machine, in child processes.
 * Needs a `Transport` (`NodeProcess.layer`), no database.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyedRefs } from "@troupe/cluster"
 * import { NodeProcess } from "@troupe/node"
 * import { AccountBehaviour, Accounts } from "./account.ts"
 *
 * const AccountsLocal = KeyedRefs.layerLocal(Accounts, AccountBehaviour, { hosts: 2 }).pipe(
 *   Layer.provide(NodeProcess.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocal = <A extends Actor.Any>(
  tag: Tag<A>,
  behaviour: Actor.Behaviour<A>,
  options?: Keyed.Options
): Layer.Layer<KeyedRefs<A>, ChildStartFailed | InvalidSupervisorSpec, Transport> =>
  Layer.effect(
    tag,
    Effect.map(Keyed.make(behaviour, options), (keyed) => ({ actor: behaviour.actor, get: keyed.get }))
  )
