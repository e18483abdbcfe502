/**
 * Looking actors up by name from any process: a directory of a supervision
 * tree (by a worker's path) or of a keyed group (by key), that travels.
 *
 * The parent makes a directory with `ofSupervisor` or `ofKeyed`, inside a
 * `Scope`, and sends it in a payload or a message (its Schema is `schema`).
 * In a child, `lookup` asks the parent for the ref of the actor of a given
 * type under a given name, and gives a ref usable there (see
 * `Actor.refSchema`): `None` when the tree has no worker at that path, or
 * one of another actor type. The ref found names its actor's one endpoint
 * (see `Actor.refSchema`), so looking names up hosts nothing new per lookup.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import type * as Actor from "./Actor.ts"
import * as ActorRefs from "./internal/actor/actorRefs.ts"
import { find as findBehaviour } from "./internal/actor/actorRegistry.ts"
import type { Codable } from "./internal/wire/codec.ts"
import * as Codec from "./internal/wire/codec.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
import * as ParentLink from "./internal/wire/parentLink.ts"
import type * as Keyed from "./Keyed.ts"
import type * as Supervisor from "./Supervisor.ts"
import type { ChannelError, RemoteDefect, ReplyValidationError, RequestValidationError } from "./TroupeError.ts"

const TypeId = "~@troupe/core/ActorDirectory" as const

/**
 * A directory of the actors of one tree or keyed group, in the process that
 * made it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActorDirectory {
  readonly [TypeId]: typeof TypeId
  readonly endpoint: string
}

const lookupCodable: Codable = {
  name: "ActorDirectory.lookup",
  payloadSchema: Schema.Struct({ actor: Schema.String, name: Schema.String }),
  successSchema: Schema.NullOr(ActorRefs.RefEncoded),
  errorSchema: Schema.Never
}

const host = (find: (actor: Actor.Any, name: string) => Actor.ActorRef<Actor.Any> | undefined) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      // A ref found here names its actor's one endpoint (kept by its supervisor or keyed group): looking a name
      // up again hosts nothing more.
      Endpoints.register({
        name: "ActorDirectory",
        handle: (_method, payload) =>
          Codec.runInChild(lookupCodable, payload, ({ actor, name }: { actor: string; name: string }) =>
            Effect.sync(() => {
              const behaviour = findBehaviour(actor)
              if (behaviour === undefined) return null
              const ref = find(behaviour.actor as Actor.Any, name)
              return ref === undefined ? null : Schema.encodeSync(ActorRefs.refSchema(ref.actor))(ref)
            })
          )
      })
    ),
    (endpoint) => Effect.sync(() => Endpoints.unregister(endpoint))
  ).pipe(Effect.map((endpoint): ActorDirectory => ({ [TypeId]: TypeId, endpoint })))

/**
 * A directory of a supervision tree: names are the workers' paths
 * (`"counter"`, `"sup2/c3"`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ActorDirectory, type Supervisor } from "@troupe/core"
 *
 * declare const sup: Supervisor.Supervisor
 * const program = Effect.gen(function*() {
 *   const directory = yield* ActorDirectory.ofSupervisor(sup)
 *   // send `directory` to a child inside a message whose Schema has `ActorDirectory.schema`
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ofSupervisor = (supervisor: Supervisor.Supervisor): Effect.Effect<ActorDirectory, never, Scope.Scope> =>
  host((actor, path) => {
    try {
      return supervisor.ref(path, actor)
    } catch {
      // No worker at `path`, or one of another type.
      return undefined
    }
  })

/**
 * A directory of a keyed group: names are keys (every key has an actor,
 * started on its first message).
 *
 * @since 0.1.0
 * @category constructors
 */
export const ofKeyed = <A extends Actor.Any>(
  keyed: Keyed.Keyed<A>
): Effect.Effect<ActorDirectory, never, Scope.Scope> =>
  host((actor, key) => {
    const ref = keyed.get(key)
    return ref.actor.name === actor.name ? (ref as Actor.ActorRef<Actor.Any>) : undefined
  })

/**
 * The Schema of a directory, for payloads and messages.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Codec<ActorDirectory, { readonly endpoint: string }> = Schema.Struct({
  endpoint: Schema.String
}).pipe(
  Schema.decodeTo(
    Schema.declare((u): u is ActorDirectory => typeof u === "object" && u !== null && TypeId in u),
    SchemaTransformation.transform({
      decode: ({ endpoint }): ActorDirectory => ({ [TypeId]: TypeId, endpoint }),
      encode: (directory) => ({ endpoint: directory.endpoint })
    })
  )
) as any

/**
 * The ref of the actor of type `actor` named `name` in the directory's tree
 * or group, usable in this process; `None` when there is none.
 *
 * @example
 * ```ts
 * import { Effect, Option, Schema } from "effect"
 * import { Rpc } from "effect/rpc"
 * import { Actor, ActorDirectory } from "@troupe/core"
 *
 * const Counter = Actor.make("Counter", [Rpc.make("Get", { success: Schema.Int })])
 *
 * const readCounter = (directory: ActorDirectory.ActorDirectory) =>
 *   ActorDirectory.lookup(directory, Counter, "counter").pipe(
 *     Effect.flatMap(Option.match({ onNone: () => Effect.succeed(-1), onSome: (ref) => ref.ask("Get", undefined) }))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category lookup
 */
export const lookup = <A extends Actor.Any>(
  directory: ActorDirectory,
  actor: A,
  name: string
): Effect.Effect<
  Option.Option<Actor.ActorRef<A>>,
  ChannelError | RequestValidationError | ReplyValidationError | RemoteDefect
> =>
  Effect.suspend(() =>
    ParentLink.callWith("ActorDirectory", directory.endpoint, "lookup", lookupCodable, { actor: actor.name, name })
  ).pipe(
    Effect.flatMap((encoded) => {
      if (encoded === null) return Effect.succeedNone
      const ref = Schema.decodeUnknownExit(ActorRefs.refSchema(actor))(encoded)
      return Exit.isSuccess(ref) ? Effect.succeedSome(ref.value) : Effect.die(ref.cause)
    })
  ) as any
