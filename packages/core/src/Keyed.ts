/**
 * Keyed actors: one live instance per key, spread over a group of child
 * processes by consistent hashing.
 *
 * `get(key)` returns a client; the instance for `key` is started in its
 * child on its first message and passivated (stopped, finalizers run) after
 * `idleTimeout` without messages; its next message starts it again, from its
 * last snapshot when the behaviour uses `Actor.persistedRef`. The children
 * are supervised `oneForOne`: when one dies, only the actors it held restart
 * (lazily, on their next message), each from its snapshot if it has one.
 *
 * This is the single-machine shape of an `effect/cluster` entity: the same
 * actor and behaviour run there with `ActorEntity`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Actor from "./Actor.ts"
import { ActorCell, resolveMailbox } from "./internal/actor/actorCell.ts"
import type * as ActorHost from "./internal/actor/actorHost.ts"
import { type BehaviourShape, messageCodable } from "./internal/actor/actorRegistry.ts"
import * as HashRing from "./internal/actor/hashRing.ts"
import { expected } from "./internal/options.ts"
import * as Runtime from "./internal/supervisor/supervisorRuntime.ts"
import * as Spec from "./internal/supervisor/supervisorSpec.ts"
import { gaugeState, register } from "./internal/telemetry.ts"
import * as Codec from "./internal/wire/codec.ts"
import * as Metrics from "./Metrics.ts"
import type * as Supervisor from "./Supervisor.ts"
import type { Transport } from "./Transport.ts"
import {
  type ArgumentEncodeError,
  type AskError,
  type ChildStartFailed,
  type InvalidSupervisorSpec,
  RequestValidationError,
  type RestartIntensityExceeded,
  type SupervisorFailed
} from "./TroupeError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How many child processes host the instances (default 2). */
  readonly hosts?: number | undefined
  /** Passivate an instance after this long without messages (default 60 seconds). */
  readonly idleTimeout?: Duration.Input | undefined
  /** Each instance's mailbox. */
  readonly mailbox?: Actor.MailboxOptions | undefined
  /**
   * At most this many host restarts within `period` (default `2 * hosts`, as a pool); past it the group gives up
   * (its calls fail; in a tree, the tree restarts it). The same fields as a pool's and a tree's.
   */
  readonly intensity?: number | undefined
  /** The window of `intensity` (default 10 seconds). */
  readonly period?: Duration.Input | undefined
  /** Delay before a host restarts (default: none), as on a pool and a tree. */
  readonly backoff?: Supervisor.Backoff | undefined
  /** The group's name in metrics (`supervisor` tag; default the actor's name). */
  readonly name?: string | undefined
  /** @deprecated The same as `intensity`, `period`, `backoff` and `name`, which win when both are set. */
  readonly supervision?: Supervisor.Options | undefined
  /** How long a host gets to stop its instances on shutdown before it is killed (default 5000 ms). */
  readonly shutdown?: Supervisor.Shutdown | undefined
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
}

/** Every option of a group, with the field that is wrong named (`hosts`, `idleTimeout`, `supervision.period`). */
const checkOptions = (options: Options) =>
  Spec.checkInteger("hosts", options.hosts, 1) ??
  Spec.checkDuration("idleTimeout", options.idleTimeout, { atLeastMs: 0, strict: true }) ??
  Spec.checkMailbox("mailbox", options.mailbox) ??
  (options.shutdown === undefined ? undefined : Spec.checkShutdown("shutdown", options.shutdown)) ??
  (options.supervision === undefined ? undefined : Spec.checkOptions(options.supervision, "supervision.")) ??
  Spec.checkOptions(
    { intensity: options.intensity, period: options.period, backoff: options.backoff, name: options.name },
    ""
  )

/**
 * A key as given, when it is a string: anything else (from a caller without
 * types) would hash as nothing and reach no instance, so it throws.
 */
const keyOf = (where: string, key: string): string => {
  if (typeof key !== "string") throw expected(where, "a string key", key)
  return key
}

/**
 * A handler's reply as its instance encoded it (the JSON form of the
 * message's success or error Schema): what `Keyed.relay` gives.
 *
 * @since 0.1.0
 * @category models
 */
export type EncodedReply =
  | { readonly _tag: "Success"; readonly value: unknown }
  | { readonly _tag: "Failure"; readonly error: unknown }

/**
 * A running group of keyed actors.
 *
 * @since 0.1.0
 * @category models
 */
export interface Keyed<A extends Actor.Any> {
  /** The actor every instance runs. */
  readonly actor: A
  /** The client of the instance for `key`. Throws a `TypeError` for a key that is not a string. */
  readonly get: (key: string) => Actor.ActorRef<A>
  /** Which host (0 to `hosts - 1`) holds `key`. */
  readonly hostOf: (key: string) => number
  /** The hosts' pids, by index (`null` while one restarts). */
  readonly pids: Effect.Effect<ReadonlyArray<number | null>>
  /** Keys with a live instance (or one still stopping) or messages in flight. */
  readonly activeKeys: Effect.Effect<ReadonlyArray<string>>
  /**
   * The last snapshot of `key`'s `Actor.persistedRef` (encoded), `undefined`
   * if it has none. For an owner that keeps snapshots elsewhere (a cluster
   * runner stores them in a database after each message).
   */
  readonly snapshotOf: (key: string) => unknown
  /**
   * Hands `key` over: waits until its mailbox is empty, stops its instance
   * (finalizers run) and sets the snapshot its next activation starts from
   * (`undefined`: from the behaviour's initial state). For an owner that
   * moves keys between machines (a cluster runner, when a shard comes or goes).
   */
  readonly handOver: (key: string, snapshot: unknown) => Effect.Effect<void>
  /**
   * Asks `key`'s instance with a payload that is already encoded (the JSON
   * form of the message's payload Schema) and gives the handler's success or
   * typed failure as the instance encoded it: for an owner that forwards
   * messages it does not read (a cluster runner), so that this process
   * neither decodes nor encodes them. The instance's host decodes the
   * payload, so a bad one is still a `RequestValidationError`; the mailbox's
   * failures, a defect and a host that died fail the effect with the
   * `AskError` an `ask` gives.
   */
  readonly relay: (key: string, tag: string, encodedPayload: unknown) => Effect.Effect<EncodedReply, AskError>
  readonly tree: Effect.Effect<Supervisor.TreeNode>
  /** Its hosts' lifecycle events from now on; the stream ends when the group stops or gives up. */
  readonly events: Stream.Stream<Supervisor.Event>
  /** Waits until the group stops; fails if its hosts failed past their restart intensity. */
  readonly join: Effect.Effect<void, RestartIntensityExceeded | SupervisorFailed>
}

/**
 * Encodes a message's payload into the form `relay` takes (the JSON form of
 * the message's payload Schema), with the checks an `ask` makes before it
 * sends: an unknown message or a payload its Schema refuses is a
 * `RequestValidationError`, and one that JSON cannot carry (`NaN`, a
 * function, a bigint under `Schema.Any`) an `ArgumentEncodeError`. For an
 * owner that sends messages to a `relay` in another process (a cluster
 * client), so that its callers get the errors a local `ask` gives.
 *
 * @example
 * ```ts
 * import { Exit } from "effect"
 * import { Keyed } from "@troupe/core"
 * import { Counter } from "./counter.ts"
 *
 * const encoded = Keyed.encodePayload(Counter, "Increment", { by: 1 })
 * if (Exit.isSuccess(encoded)) console.log(encoded.value) // { by: 1 }
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodePayload = (
  actor: Actor.Any,
  tag: string,
  payload: unknown
): Exit.Exit<unknown, RequestValidationError | ArgumentEncodeError> => {
  const codable = messageCodable(actor, tag)
  if (codable === undefined) {
    const message = `actor ${actor.name} has no message ${tag}`
    return Exit.fail(new RequestValidationError({ task: `${actor.name}.${tag}`, message }))
  }
  return Codec.encodePayloadExit(codable, payload)
}

/**
 * Starts a group of keyed actors in the current `Scope`. Invalid options
 * (`hosts`, `idleTimeout`, `shutdown`, `mailbox`, `supervision`) fail with
 * `InvalidSupervisorSpec` naming the field, before any host starts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Keyed } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 * import { Counter, CounterBehaviour } from "./counter.ts"
 *
 * const program = Effect.gen(function*() {
 *   const counters = yield* Keyed.make(CounterBehaviour, { hosts: 2, idleTimeout: "30 seconds" })
 *   yield* counters.get("user-42").ask("Increment", { by: 1 })
 * }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A extends Actor.Any>(
  behaviour: Actor.Behaviour<A>,
  given: Options = {}
): Effect.Effect<Keyed<A>, ChildStartFailed | InvalidSupervisorSpec, Transport | Scope.Scope> =>
  Effect.gen(function* () {
    if (!Actor.isBehaviour(behaviour)) {
      return yield* Effect.die(expected("Keyed.make", "a behaviour made by Actor.behaviour", behaviour))
    }
    // `null`, from an untyped caller, is no options.
    const options: Options = given ?? {}
    const invalid = checkOptions(options)
    if (invalid !== undefined) return yield* invalid
    const count = options.hosts ?? 2
    const idleMs = Duration.toMillis(Duration.fromInputUnsafe(options.idleTimeout ?? Duration.seconds(60)))
    const settings = resolveMailbox(options.mailbox)
    const shape = behaviour as unknown as BehaviourShape
    const indexes = Array.from({ length: count }, (_, index) => index)
    const ring = HashRing.make(indexes)
    const hosts: Array<ActorHost.ActorHost | undefined> = indexes.map(() => undefined)
    const cells = new Map<string, ActorCell>()
    const snapshots = new Map<string, unknown>()
    const root = yield* Runtime.makeRoot(options.name ?? options.supervision?.name ?? behaviour.actor.name)
    register(
      Metrics.mailboxDepth,
      { supervisor: root.name, actor: behaviour.actor.name },
      root.context,
      () => {
        let depth = 0
        for (const cell of cells.values()) depth += cell.depth
        return gaugeState(depth)
      },
      root.registrations
    )

    const locate = (index: number) => () => {
      const host = hosts[index]
      return host === undefined || host.isDown() ? undefined : host
    }
    // Once the group is gone (stopped, or its hosts failed past their intensity), every message fails at once.
    let gone: string | undefined
    const cellOf = (key: string): ActorCell => {
      let cell = cells.get(key)
      if (cell === undefined) {
        cell = new ActorCell({
          behaviour: shape,
          key,
          ref: root.nextRef++,
          settings,
          locate: locate(ring.lookup(key)),
          exitWithActor: false,
          snapshot: snapshots.get(key),
          clock: root.clock
        })
        if (gone !== undefined) cell.kill(gone)
        else cells.set(key, cell)
      }
      return cell
    }
    const specs: ReadonlyArray<Runtime.HostSpec> = indexes.map((index) => ({
      _tag: "Host",
      id: `host-${index}`,
      restart: "permanent",
      shutdown: options.shutdown ?? 5000,
      preload: [behaviour.module],
      env: options.env,
      execArgv: options.execArgv,
      onStarted: (host) => {
        hosts[index] = host
        for (const [key, cell] of cells) if (ring.lookup(key) === index) cell.deliver()
      }
    }))
    const node = new Runtime.Node(
      root,
      "",
      {
        intensity: options.intensity ?? options.supervision?.intensity ?? 2 * count,
        period: options.period ?? options.supervision?.period ?? Duration.seconds(10),
        backoff: options.backoff ?? options.supervision?.backoff,
        parallelStop: true
      },
      specs
    )
    const killAll = (reason: string) =>
      Effect.sync(() => {
        gone = reason
        for (const cell of cells.values()) cell.kill(reason)
        cells.clear()
      })
    yield* Effect.acquireRelease(node.start(), () =>
      node.stop.pipe(Effect.andThen(killAll(`the ${behaviour.actor.name} group stopped`)))
    )
    yield* node.join.pipe(
      Effect.match({
        onFailure: (error) => `the ${behaviour.actor.name} group gave up: ${error.message}`,
        onSuccess: () => `the ${behaviour.actor.name} group stopped`
      }),
      Effect.flatMap(killAll),
      Effect.forkScoped
    )

    // Passivation: idle instances stop; their snapshot waits for their next message. A cell stays until its
    // instance has stopped: a message sent meanwhile waits in it for that, and then starts the next instance.
    const sweep = Effect.sync(() => {
      const before = root.clock.monotonicMillis() - idleMs
      for (const [key, cell] of cells) {
        // One passivation at a time; an instance still starting is passivated by a later sweep.
        if (!cell.idle || cell.stopping || cell.activation === "pending" || cell.lastActivity > before) continue
        cell.passivate(() => {
          if (cells.get(key) !== cell || !cell.idle) return
          if (cell.snapshot !== undefined) snapshots.set(key, cell.snapshot)
          cells.delete(key)
        })
      }
    })
    yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(Math.max(10, idleMs / 2))), sweep))
    )

    return {
      actor: behaviour.actor,
      get: (key) => Runtime.refOf(behaviour.actor, keyOf("Keyed.get", key), () => cellOf(key), root),
      hostOf: (key) => ring.lookup(key),
      pids: Effect.sync(() => hosts.map((host) => (host === undefined || host.isDown() ? null : host.pid))),
      activeKeys: Effect.sync(() => [...cells.keys()]),
      snapshotOf: (key) => cells.get(key)?.snapshot ?? snapshots.get(key),
      handOver: (given, snapshot) =>
        Effect.gen(function* () {
          const key = keyOf("Keyed.handOver", given)
          const cell = cells.get(key)
          if (cell !== undefined) {
            // Messages sent while it waited are let in: it waits again until none is left.
            while (!cell.idle) yield* cell.whenIdle
            if (cells.get(key) === cell) cells.delete(key)
            // Settled by the host's reply, or by its death (which drops the reply and the instance with it).
            const host = cell.host
            yield* Effect.callback<void>((resume) => cell.passivate(() => resume(Effect.void))).pipe(
              Effect.raceFirst(host === undefined ? Effect.never : Effect.asVoid(host.down))
            )
          }
          if (snapshot === undefined) snapshots.delete(key)
          else snapshots.set(key, snapshot)
        }),
      relay: (key, tag, encodedPayload) =>
        Effect.suspend(() => cellOf(keyOf("Keyed.relay", key)).relayAsk(tag, encodedPayload)) as Effect.Effect<
          EncodedReply,
          AskError
        >,
      tree: Effect.sync(() => node.tree(behaviour.actor.name)),
      events: Runtime.eventsOf(root),
      join: Effect.suspend(() => node.join)
    } satisfies Keyed<A>
  })
