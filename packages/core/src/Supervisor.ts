/**
 * Supervision trees, as exact as Erlang/OTP's `supervisor`.
 *
 * Child specs are data: an id, what to start (an actor in its own process, or
 * a nested supervisor), a restart type and a shutdown. A supervisor starts
 * its children left to right and, when one ends, applies its strategy:
 *
 * - `oneForOne`: only that child restarts.
 * - `oneForAll`: the others are stopped (right to left), then all restart.
 * - `restForOne`: the children started after it are stopped, then it and
 *   they restart.
 *
 * Restart types: `permanent` always restarts; `transient` only after an
 * abnormal end (not `normal` or `shutdown`); `temporary` never, and its spec
 * is removed, even when a sibling's restart stopped it.
 *
 * Every restart counts in a sliding window: more than `intensity` restarts
 * within `period` and the supervisor stops all its children (right to left)
 * and fails with `RestartIntensityExceeded`, which its own supervisor sees as
 * an abnormal end of a child: failures escalate up the tree. A cascade
 * (`oneForAll`, `restForOne`) counts once; a restart that itself fails counts
 * too. An optional backoff (Akka's formula, reset after a stable run) delays
 * each restart; messages sent meanwhile wait in the actor's mailbox. The
 * restart logic is `RestartPolicy.makeRestarter`, shared with pools and
 * keyed groups.
 *
 * Specs are checked at `start` (`InvalidSupervisorSpec` names the bad
 * field). A running supervisor takes dynamic children (`startChild`,
 * `terminateChild`, `restartChild`, `deleteChild`, on the root or on a nested
 * supervisor with `at`), and with `autoShutdown` a `significant` child's end
 * shuts it down, as OTP 24's. A dynamic supervisor (`dynamic`,
 * `startDynamic`) starts children from one template with their own
 * arguments, typed by the template's Schema and read in the child with
 * `Actor.startArgs`; pools and keyed groups (`pool`, `keyed`) are children too, so a
 * whole application is one tree with one shutdown order.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Actor from "./Actor.ts"
import * as Runtime from "./internal/supervisor/supervisorRuntime.ts"
import * as Spec from "./internal/supervisor/supervisorSpec.ts"
import * as Keyed from "./Keyed.ts"
import * as Pool from "./Pool.ts"
import type * as RestartPolicy from "./RestartPolicy.ts"
import type { Transport } from "./Transport.ts"
import {
  type ChildOperationFailed,
  type ChildStartFailed,
  InvalidSupervisorSpec,
  type RestartIntensityExceeded,
  type SupervisorFailed
} from "./TroupeError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Strategy = "oneForOne" | "oneForAll" | "restForOne"

/**
 * @since 0.1.0
 * @category models
 */
export type RestartType = "permanent" | "transient" | "temporary"

/**
 * How a child is stopped: SIGTERM, then SIGKILL after this many
 * milliseconds; `"brutalKill"`: SIGKILL at once; `"infinity"`: wait (the
 * default for nested supervisors, which stop their own children first).
 *
 * @since 0.1.0
 * @category models
 */
export type Shutdown = number | "brutalKill" | "infinity"

/**
 * Backoff between restarts: Akka's `min(max, min * 2^n) * (1 + random *
 * randomFactor)`, where `n` counts a child's consecutive failures. `n` goes
 * back to 0 once the child has run `resetAfter` (default `(min + max) / 2`)
 * since its last start. Past `maxRestarts` consecutive failures the
 * supervisor gives up, as when the intensity is exceeded. The same shape as
 * a pool's and a keyed group's `backoff` (`RestartPolicy.Backoff`).
 *
 * @since 0.1.0
 * @category models
 */
export type Backoff = RestartPolicy.Backoff

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The tree's name in metrics (`supervisor` tag); only the root's is used (default `"supervisor"`). */
  readonly name?: string | undefined
  /** Default `"oneForOne"`. */
  readonly strategy?: Strategy | undefined
  /** At most this many restarts within `period` (default 1, as in OTP). */
  readonly intensity?: number | undefined
  /** Default 5 seconds, as in OTP. */
  readonly period?: Duration.Input | undefined
  /** Delay between restarts; default none (restart at once, as in OTP). */
  readonly backoff?: Backoff | undefined
  /**
   * OTP's `auto_shutdown`: `"never"` (the default); `"anySignificant"`: the supervisor shuts down (stops its
   * other children, ends normally) once any `significant` child ended by itself and is not restarted;
   * `"allSignificant"`: once all of them did.
   */
  readonly autoShutdown?: "never" | "anySignificant" | "allSignificant" | undefined
  /**
   * At most this many children (Elixir's `DynamicSupervisor` `max_children`): a `startChild` past it fails with
   * `ChildOperationFailed { reason: "maxChildren" }`. Default: no limit.
   */
  readonly maxChildren?: number | undefined
}

/**
 * An actor alone in its own child process.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerSpec {
  readonly _tag: "Worker"
  readonly id: string
  readonly behaviour: Actor.Behaviour<Actor.Any>
  readonly restart: RestartType
  /** Its end can shut its supervisor down (`autoShutdown`); never `permanent`. Default `false`. */
  readonly significant?: boolean | undefined
  readonly shutdown: Shutdown
  readonly mailbox?: Actor.MailboxOptions | undefined
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
  /**
   * How long its process may take to come up, and then its actor's build to finish; past either, the start fails
   * with `ChildStartFailed` and the process is stopped. Default 30 seconds.
   */
  readonly startTimeout?: Duration.Input | undefined
}

/**
 * A nested supervisor.
 *
 * @since 0.1.0
 * @category models
 */
export interface SupervisorSpec {
  readonly _tag: "Supervisor"
  readonly id: string
  readonly options: Options
  readonly children: ReadonlyArray<ChildSpec>
  readonly restart: RestartType
  /** Its end can shut its supervisor down (`autoShutdown`); never `permanent`. Default `false`. */
  readonly significant?: boolean | undefined
  readonly shutdown: Shutdown
}

/**
 * What a dynamic supervisor starts: one behaviour, one restart type and
 * shutdown, and each child's own start arguments (OTP's `simple_one_for_one`
 * child spec, whose start function gets extra arguments). With `args`, a
 * Schema, the arguments are encoded in the parent and the actor reads them
 * decoded (`Actor.startArgs`); `start` turns them into that child's process
 * options (environment, `execArgv`). Its key is its path.
 *
 * @since 0.1.0
 * @category models
 */
export interface Template<Args> {
  readonly behaviour: Actor.Behaviour<Actor.Any>
  readonly restart: RestartType
  readonly shutdown: Shutdown
  readonly mailbox?: Actor.MailboxOptions | undefined
  /** Each child's start bound, as a worker's `startTimeout`. Default 30 seconds. */
  readonly startTimeout?: Duration.Input | undefined
  /** The Schema of the arguments: they reach the actor as a value (`Actor.startArgs`); a bad one is refused at `startChild`. */
  readonly args?: Schema.Codec<Args, any, any, never> | undefined
  /**
   * The child's process options, from its arguments. One that throws fails `startChild` with `ChildStartFailed`;
   * options of the wrong kind are an `InvalidSupervisorSpec`.
   */
  readonly start: (args: Args) => ProcessOptions
}

/**
 * A dynamic child's process options, computed from its start arguments.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessOptions {
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
}

/**
 * A dynamic supervisor (OTP's `simple_one_for_one`, Elixir's
 * `DynamicSupervisor`): no children at start; `startChild(args)` adds one
 * from the template. Always `oneForOne`; its children stop all at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface DynamicSpec<Args> {
  readonly _tag: "Dynamic"
  readonly id: string
  readonly options: DynamicOptions
  readonly template: Template<Args>
  readonly restart: RestartType
  /** Its end can shut its supervisor down (`autoShutdown`); never `permanent`. Default `false`. */
  readonly significant?: boolean | undefined
  readonly shutdown: Shutdown
}

/**
 * A dynamic supervisor's flags: a tree's, without a strategy (always `oneForOne`) or `autoShutdown`.
 *
 * @since 0.1.0
 * @category models
 */
export type DynamicOptions = Omit<Options, "strategy" | "autoShutdown">

/**
 * A scoped service run as a child: a process pool (`Supervisor.pool`) or a
 * keyed group (`Supervisor.keyed`). Its start builds it in a scope of its
 * own; its stop closes that scope (the pool drains, the group stops its
 * hosts). It ends abnormally when it gives up (a pool past its intensity, a
 * group whose hosts did), and the tree's strategy restarts it: a new pool or
 * group, found again with `service`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceSpec {
  readonly _tag: "Service"
  readonly id: string
  readonly kind: "pool" | "keyed"
  readonly start: Effect.Effect<RunningService, { readonly message: string }, Transport | Scope.Scope>
  readonly restart: RestartType
  /** Its end can shut its supervisor down (`autoShutdown`); never `permanent`. Default `false`. */
  readonly significant?: boolean | undefined
  /** Not used to time the stop: the service's own shutdown (a pool's drain timeout) bounds it. */
  readonly shutdown: Shutdown
}

/**
 * A started service: the value users reach with `service`, and an effect
 * that completes when it ends by itself (`"abnormal"` when it gave up).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunningService {
  readonly value: unknown
  readonly ended: Effect.Effect<"normal" | "abnormal">
}

/**
 * @since 0.1.0
 * @category models
 */
export type ChildSpec = WorkerSpec | SupervisorSpec | DynamicSpec<any> | ServiceSpec

/**
 * A worker child: `behaviour`'s actor in its own process, addressed by `id`.
 * Defaults: `restart: "permanent"`, `shutdown: 5000` ms (OTP's).
 *
 * @example
 * ```ts
 * import { Supervisor } from "@troupe/core"
 * declare const CounterBehaviour: any
 *
 * const spec = Supervisor.worker("counter", CounterBehaviour, { restart: "transient", shutdown: 1000, startTimeout: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const worker = (
  id: string,
  behaviour: Actor.Behaviour<any>,
  options?: {
    readonly restart?: RestartType | undefined
    readonly shutdown?: Shutdown | undefined
    readonly significant?: boolean | undefined
    readonly mailbox?: Actor.MailboxOptions | undefined
    readonly env?: Readonly<Record<string, string | undefined>> | undefined
    readonly execArgv?: ReadonlyArray<string> | undefined
    readonly startTimeout?: Duration.Input | undefined
  }
): WorkerSpec => ({
  _tag: "Worker",
  id: checkId(id),
  behaviour,
  restart: options?.restart ?? "permanent",
  significant: options?.significant ?? false,
  shutdown: options?.shutdown ?? 5000,
  mailbox: options?.mailbox,
  env: options?.env,
  execArgv: options?.execArgv,
  startTimeout: options?.startTimeout
})

/**
 * A nested supervisor child. Defaults: `restart: "permanent"`,
 * `shutdown: "infinity"` (OTP's).
 *
 * @example
 * ```ts
 * import { Supervisor } from "@troupe/core"
 * declare const A: any, B: any
 *
 * const tree = Supervisor.supervisor("sup1", { strategy: "oneForAll", intensity: 2 }, [
 *   Supervisor.worker("a", A),
 *   Supervisor.worker("b", B)
 * ])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const supervisor = (
  id: string,
  options: Options,
  children: ReadonlyArray<ChildSpec>,
  childOptions?: {
    readonly restart?: RestartType | undefined
    readonly shutdown?: Shutdown | undefined
    readonly significant?: boolean | undefined
  }
): SupervisorSpec => ({
  _tag: "Supervisor",
  id: checkId(id),
  options,
  children: checkChildren(children),
  restart: childOptions?.restart ?? "permanent",
  significant: childOptions?.significant ?? false,
  shutdown: childOptions?.shutdown ?? "infinity"
})

const noProcessOptions = (): ProcessOptions => ({})

/**
 * The template of a dynamic supervisor's children: `behaviour`'s actor,
 * started with each child's own arguments. With `args` (a Schema), the
 * arguments are typed by it, encoded in the parent (a value that does not
 * encode is an `InvalidSupervisorSpec` at `startChild`, field `<id>.args`)
 * and read decoded by the actor with `Actor.startArgs`, the same after every
 * restart. `start` turns them into per-child process options (environment,
 * `execArgv`); without `args` that is the only way they reach the child.
 * Defaults: `restart: "permanent"`, `shutdown: 5000` ms. A child that ends
 * and is not restarted is removed, as in `simple_one_for_one`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Supervisor } from "@troupe/core"
 * declare const ConnectionBehaviour: any
 *
 * // The actor reads them with `yield* Actor.startArgs(ConnectionArgs)`.
 * const ConnectionArgs = Schema.Struct({ host: Schema.String })
 * const connection = Supervisor.template(ConnectionBehaviour, { args: ConnectionArgs, restart: "transient" })
 *
 * // Or as process options only:
 * const legacy = Supervisor.template(ConnectionBehaviour, {
 *   start: (args: { readonly host: string }) => ({ env: { CONNECT_TO: args.host } })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const template: {
  <S extends Schema.Codec<any, any, any, never>>(
    behaviour: Actor.Behaviour<any>,
    options: {
      readonly args: S
      readonly start?: ((args: S["Type"]) => ProcessOptions) | undefined
      readonly restart?: RestartType | undefined
      readonly shutdown?: Shutdown | undefined
      readonly mailbox?: Actor.MailboxOptions | undefined
      readonly startTimeout?: Duration.Input | undefined
    }
  ): Template<S["Type"]>
  <Args>(
    behaviour: Actor.Behaviour<any>,
    options: {
      readonly start: (args: Args) => ProcessOptions
      readonly restart?: RestartType | undefined
      readonly shutdown?: Shutdown | undefined
      readonly mailbox?: Actor.MailboxOptions | undefined
      readonly startTimeout?: Duration.Input | undefined
    }
  ): Template<Args>
} = (
  behaviour: Actor.Behaviour<any>,
  options: {
    readonly args?: Schema.Codec<any, any, any, never> | undefined
    readonly start?: ((args: any) => ProcessOptions) | undefined
    readonly restart?: RestartType | undefined
    readonly shutdown?: Shutdown | undefined
    readonly mailbox?: Actor.MailboxOptions | undefined
    readonly startTimeout?: Duration.Input | undefined
  }
): Template<any> => ({
  behaviour,
  restart: options.restart ?? "permanent",
  shutdown: options.shutdown ?? 5000,
  mailbox: options.mailbox,
  startTimeout: options.startTimeout,
  args: options.args,
  start: options.start ?? noProcessOptions
})

/**
 * A dynamic supervisor child (OTP's `simple_one_for_one`, Elixir's
 * `DynamicSupervisor`): it starts empty; `sup.dynamic(path, template)`
 * starts children from `template`, each with its own arguments, up to
 * `maxChildren`. Defaults: `restart: "permanent"`, `shutdown: "infinity"`.
 *
 * @example
 * ```ts
 * import { Supervisor } from "@troupe/core"
 * declare const connection: Supervisor.Template<{ readonly host: string }>
 *
 * const connections = Supervisor.dynamic("connections", { maxChildren: 100, intensity: 10, period: "1 minute" }, connection)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const dynamic = <Args>(
  id: string,
  options: DynamicOptions,
  template: Template<Args>,
  childOptions?: {
    readonly restart?: RestartType | undefined
    readonly shutdown?: Shutdown | undefined
    readonly significant?: boolean | undefined
  }
): DynamicSpec<Args> => ({
  _tag: "Dynamic",
  id: checkId(id),
  options,
  template,
  restart: childOptions?.restart ?? "permanent",
  significant: childOptions?.significant ?? false,
  shutdown: childOptions?.shutdown ?? "infinity"
})

/**
 * A process pool as a child of the tree. Unless `options` say otherwise
 * (`onExceeded`), a pool in a tree gives up past its restart intensity, as
 * an OTP child does: the tree sees an abnormal end and its strategy restarts
 * the pool (a new one: look it up again with `sup.service`). Defaults:
 * `restart: "permanent"`.
 *
 * @example
 * ```ts
 * import { Supervisor } from "@troupe/core"
 *
 * const workers = Supervisor.pool("workers", { size: 4, intensity: 8, period: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const pool = (
  id: string,
  options: Pool.Options = {},
  childOptions?: {
    readonly restart?: RestartType | undefined
    readonly significant?: boolean | undefined
  }
): ServiceSpec => ({
  _tag: "Service",
  id: checkId(id),
  kind: "pool",
  start: Effect.gen(function* () {
    const made = yield* Pool.make({ ...options, onExceeded: options.onExceeded ?? "giveUp" })
    // Subscribed before the pool is ready, so that a give-up during the start is seen too.
    const events = yield* Stream.toPull(made.events)
    yield* made.ready
    const ended = Effect.suspend(function next(): Effect.Effect<"normal" | "abnormal"> {
      return events.pipe(
        Effect.matchEffect({
          onFailure: () => Effect.succeed<"normal" | "abnormal">("normal"),
          onSuccess: (chunk) =>
            chunk.some((event) => event._tag === "PoolGaveUp") ? Effect.succeed<"abnormal">("abnormal") : next()
        })
      )
    })
    return { value: made, ended } satisfies RunningService
  }),
  restart: childOptions?.restart ?? "permanent",
  significant: childOptions?.significant ?? false,
  shutdown: "infinity"
})

/**
 * A keyed group (`Keyed.make`) as a child of the tree: its hosts stop when
 * the tree stops it; when they fail past their restart intensity, the group
 * ends abnormally and the tree's strategy restarts it (a new group: look it
 * up again with `sup.service`). Defaults: `restart: "permanent"`.
 *
 * @example
 * ```ts
 * import { Supervisor } from "@troupe/core"
 * declare const CounterBehaviour: any
 *
 * const counters = Supervisor.keyed("counters", CounterBehaviour, { hosts: 2, idleTimeout: "1 minute" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed = <A extends Actor.Any>(
  id: string,
  behaviour: Actor.Behaviour<A>,
  options: Keyed.Options = {},
  childOptions?: {
    readonly restart?: RestartType | undefined
    readonly significant?: boolean | undefined
  }
): ServiceSpec => ({
  _tag: "Service",
  id: checkId(id),
  kind: "keyed",
  start: Effect.map(Keyed.make(behaviour, options), (group) => ({
    value: group,
    ended: group.join.pipe(
      Effect.as<"normal" | "abnormal">("normal"),
      Effect.catch(() => Effect.succeed<"normal" | "abnormal">("abnormal"))
    )
  })),
  restart: childOptions?.restart ?? "permanent",
  significant: childOptions?.significant ?? false,
  shutdown: "infinity"
})

const checkId = (id: string): string => {
  const invalid = Spec.checkId("id", id)
  if (invalid !== undefined) throw invalid
  return id
}

const checkChildren = (children: ReadonlyArray<ChildSpec>): ReadonlyArray<ChildSpec> => {
  const seen = new Set<string>()
  for (const [index, child] of children.entries()) {
    if (seen.has(child.id)) {
      throw new InvalidSupervisorSpec({ field: `children[${index}].id`, reason: `"${child.id}" is used twice` })
    }
    seen.add(child.id)
  }
  return children
}

/**
 * What happened in a tree, for logs and alerts. `path` names the child from
 * the root (`"sup2/c3"`); `at` is `Date.now()` when it happened.
 * `ChildExited` is an end the supervisor did not ask for; `ChildStopped` is
 * one it caused (a sibling's restart, a shutdown), with the exit status.
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | { readonly _tag: "ChildStarted"; readonly path: string; readonly pid: number | null; readonly at: number }
  | {
      readonly _tag: "ChildExited"
      readonly path: string
      readonly pid: number | null
      readonly reason: "normal" | "shutdown" | "abnormal"
      readonly at: number
    }
  | {
      readonly _tag: "ChildStopped"
      readonly path: string
      readonly pid: number | null
      readonly code: number | null
      readonly signal: string | null
      readonly at: number
    }
  | { readonly _tag: "ChildRestarting"; readonly path: string; readonly delayMs: number; readonly at: number }
  | { readonly _tag: "ChildStartFailed"; readonly path: string; readonly message: string; readonly at: number }
  | { readonly _tag: "ChildRemoved"; readonly path: string; readonly at: number }
  /** The child's actor called `Actor.healthy`: its backoff starts again from `min` (Akka's manual reset). */
  | { readonly _tag: "ChildHealthy"; readonly path: string; readonly at: number }
  /**
   * The child's actor called `Actor.ignore` in its build: the child is kept, not running (OTP's `ignore`); a
   * `temporary` child or a dynamic supervisor's child is removed instead.
   */
  | { readonly _tag: "ChildIgnored"; readonly path: string; readonly at: number }
  | { readonly _tag: "SupervisorGaveUp"; readonly path: string; readonly reason: string; readonly at: number }

/**
 * A snapshot of one node of the tree, as data.
 *
 * @since 0.1.0
 * @category models
 */
export interface TreeNode {
  readonly id: string
  /** A dynamic supervisor is a `"supervisor"`; a pool or a keyed group run by the tree is a `"pool"` or `"keyed"`. */
  readonly kind: "supervisor" | "worker" | "pool" | "keyed"
  readonly status: "running" | "restarting" | "stopped" | "failed"
  readonly pid: number | null
  /** Completed restarts of this child (a start its actor ignored, `Actor.ignore`, is none). */
  readonly restarts: number
  /** Messages waiting or being handled, for a worker. */
  readonly mailbox: number | null
  readonly actor?: string | undefined
  readonly strategy?: Strategy | undefined
  readonly children?: ReadonlyArray<TreeNode> | undefined
}

/**
 * OTP's operations on a running supervisor's children. On the root they
 * cannot fail to find it; on a nested one (`sup.at(path)`) they fail with
 * `ChildOperationFailed { reason: "notFound" }` when no supervisor runs at
 * that path.
 *
 * @since 0.1.0
 * @category models
 */
export interface Children<E = never> {
  /**
   * OTP's `start_child`: checks `spec`, adds it after the other children and starts it. The new child restarts
   * under the same strategy, restart type and intensity as the others. A start that fails keeps no spec; a worker
   * whose actor calls `Actor.ignore` is kept, not running (a `temporary` one is not kept, as in OTP).
   */
  readonly startChild: (
    spec: ChildSpec
  ) => Effect.Effect<void, ChildStartFailed | ChildOperationFailed | InvalidSupervisorSpec | E>
  /** OTP's `terminate_child`: stops the child by its shutdown; its spec stays (a `temporary` one is removed). */
  readonly terminateChild: (id: string) => Effect.Effect<void, ChildOperationFailed | E>
  /** OTP's `restart_child`: starts a terminated (or ignored) child again; `running` if it runs or restarts. */
  readonly restartChild: (id: string) => Effect.Effect<void, ChildStartFailed | ChildOperationFailed | E>
  /** OTP's `delete_child`: removes a terminated child's spec; `running` if it runs or restarts. */
  readonly deleteChild: (id: string) => Effect.Effect<void, ChildOperationFailed | E>
  /** OTP's `which_children`: the children, in start order. */
  readonly whichChildren: Effect.Effect<ReadonlyArray<ChildInfo>, E>
  /** OTP's `count_children`. */
  readonly countChildren: Effect.Effect<ChildCounts, E>
}

/**
 * A dynamic supervisor's operations (Elixir's `DynamicSupervisor`): children
 * start from the template with their own arguments; `terminateChild` stops
 * and removes one (there is no restart or delete of a stopped child, as in
 * OTP's `simple_one_for_one`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DynamicChildren<Args, E = never> {
  /**
   * Starts a child from the template with `args`, under `id` (default: the next number no child holds). Returns its id: its
   * path is the dynamic supervisor's path and the id (`ref` finds it). `maxChildren` is a `ChildOperationFailed`.
   */
  readonly startChild: (
    args: Args,
    options?: { readonly id?: string | undefined }
  ) => Effect.Effect<string, ChildStartFailed | ChildOperationFailed | InvalidSupervisorSpec | E>
  /** Stops the child by its shutdown and removes it. */
  readonly terminateChild: (id: string) => Effect.Effect<void, ChildOperationFailed | E>
  readonly whichChildren: Effect.Effect<ReadonlyArray<ChildInfo>, E>
  readonly countChildren: Effect.Effect<ChildCounts, E>
}

/**
 * A running supervision tree.
 *
 * @since 0.1.0
 * @category models
 */
export interface Supervisor extends Children {
  /**
   * A client of the worker at `path` (`"counter"`, or `"sup2/c3"` in a
   * nested supervisor). Throws an `Error` when no worker is at `path`, or
   * when it runs another actor than `actor` (inside an Effect: a defect).
   */
  readonly ref: <A extends Actor.Any>(path: string, actor: A) => Actor.ActorRef<A>
  /** The tree as data: ids, kinds, pids, status, restart counts, mailbox depths. */
  readonly tree: Effect.Effect<TreeNode>
  /** Lifecycle events from now on; the stream ends when the tree stops or gives up, after its last event. */
  readonly events: Stream.Stream<Event>
  /** Waits until the supervisor stops; fails if it gave up (or, with `SupervisorFailed`, if its own bookkeeping failed). */
  readonly join: Effect.Effect<void, RestartIntensityExceeded | SupervisorFailed>
  /** Stops every child, right to left, with its shutdown; harmless twice. */
  readonly stop: Effect.Effect<void>
  /** The operations on the nested supervisor at `path` (`"sup2"`, `"sup2/sup3"`), found at each call. */
  readonly at: (path: string) => Children<ChildOperationFailed>
  /** The dynamic supervisor at `path`, with its children's arguments typed by `template` (the one in its spec). */
  readonly dynamicAt: <Args>(path: string, template: Template<Args>) => DynamicChildren<Args, ChildOperationFailed>
  /** The pool running at `path` now (a restart makes a new one): `notFound` if none runs there. */
  readonly poolAt: (path: string) => Effect.Effect<Pool.Service, ChildOperationFailed>
  /** The keyed group of `actor` running at `path` now (a restart makes a new one): `notFound` if none runs there. */
  readonly keyedAt: <A extends Actor.Any>(path: string, actor: A) => Effect.Effect<Keyed.Keyed<A>, ChildOperationFailed>
}

/**
 * A running dynamic supervisor, started alone with `startDynamic`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DynamicSupervisor<Args> extends DynamicChildren<Args> {
  /**
   * A client of the child `id`, typed by the caller (`id` as `startChild`
   * returned it). Throws an `Error` when no child has that id (now), or when
   * it runs another actor than `actor` (inside an Effect: a defect).
   */
  readonly ref: <A extends Actor.Any>(id: string, actor: A) => Actor.ActorRef<A>
  readonly tree: Effect.Effect<TreeNode>
  /** Lifecycle events from now on; the stream ends when the supervisor stops or gives up, after its last event. */
  readonly events: Stream.Stream<Event>
  readonly join: Effect.Effect<void, RestartIntensityExceeded | SupervisorFailed>
  /** Stops every child, all at once, each by its shutdown; harmless twice. */
  readonly stop: Effect.Effect<void>
}

/**
 * One child, as `whichChildren` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildInfo {
  readonly id: string
  readonly kind: TreeNode["kind"]
  readonly status: TreeNode["status"]
  readonly pid: number | null
}

/**
 * OTP's `count_children`: `specs` (every child spec), `active` (children
 * running), `supervisors` and `workers` (specs of each kind).
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildCounts {
  readonly specs: number
  readonly active: number
  readonly supervisors: number
  readonly workers: number
}

/**
 * Starts a supervision tree in the current `Scope`; closing the scope stops it.
 *
 * **Details**
 *
 * The flags and every child spec are checked first: an unknown strategy or
 * restart type, a negative shutdown, a bad duration or backoff fails with
 * `InvalidSupervisorSpec` naming the field, before anything starts.
 * Children start left to right; each worker's actor is built before the next
 * child starts. If one cannot start, the ones started are stopped and the
 * start fails with `ChildStartFailed`. `ref` returns a client whose mailbox
 * outlives restarts: messages sent while the child restarts wait for it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Supervisor } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 * import { Counter, CounterBehaviour } from "./counter.ts"
 *
 * const program = Effect.gen(function*() {
 *   const sup = yield* Supervisor.start({ strategy: "oneForOne", intensity: 3, period: "5 seconds" }, [
 *     Supervisor.worker("counter", CounterBehaviour)
 *   ])
 *   const counter = sup.ref("counter", Counter)
 *   yield* counter.ask("Increment", { by: 1 })
 *   console.log(yield* sup.tree)
 * }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  options: Options,
  children: ReadonlyArray<ChildSpec>
): Effect.Effect<Supervisor, ChildStartFailed | InvalidSupervisorSpec, Transport | Scope.Scope> =>
  Effect.suspend((): Effect.Effect<Supervisor, ChildStartFailed | InvalidSupervisorSpec, Transport | Scope.Scope> => {
    const invalid = Spec.check(options, children)
    return invalid === undefined ? Runtime.startRoot(options, children) : Effect.fail(invalid)
  })

/**
 * Starts a dynamic supervisor alone (Elixir's `DynamicSupervisor`) in the
 * current `Scope`: no children at first; `startChild(args)` starts one from
 * `template`. The flags and the template are checked first
 * (`InvalidSupervisorSpec`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Supervisor } from "@troupe/core"
 * import { NodeProcess } from "@troupe/node"
 * import { Connection, ConnectionBehaviour } from "./connection.ts"
 *
 * const program = Effect.gen(function*() {
 *   const connections = yield* Supervisor.startDynamic(
 *     { maxChildren: 10 },
 *     Supervisor.template(ConnectionBehaviour, { start: (host: string) => ({ env: { CONNECT_TO: host } }) })
 *   )
 *   const id = yield* connections.startChild("db.internal")
 *   yield* connections.ref(id, Connection).ask("Ping", undefined)
 * }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const startDynamic = <Args>(
  options: DynamicOptions,
  template: Template<Args>
): Effect.Effect<DynamicSupervisor<Args>, InvalidSupervisorSpec, Transport | Scope.Scope> =>
  Effect.suspend(() => {
    const invalid = Spec.checkOptions(options, "") ?? Spec.checkTemplate("template", template)
    return invalid === undefined ? Runtime.startDynamicRoot(options, template) : Effect.fail(invalid)
  })
