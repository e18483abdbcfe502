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
 * `terminateChild`, `restartChild`, `deleteChild`), and with `autoShutdown`
 * a `significant` child's end shuts it down, as OTP 24's.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Actor from "./Actor.ts"
import * as Runtime from "./internal/supervisorRuntime.ts"
import * as Spec from "./internal/supervisorSpec.ts"
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
 * @since 0.1.0
 * @category models
 */
export type ChildSpec = WorkerSpec | SupervisorSpec

/**
 * A worker child: `behaviour`'s actor in its own process, addressed by `id`.
 * Defaults: `restart: "permanent"`, `shutdown: 5000` ms (OTP's).
 *
 * @example
 * ```ts
 * import { Supervisor } from "@troupe/core"
 * declare const CounterBehaviour: any
 *
 * const spec = Supervisor.worker("counter", CounterBehaviour, { restart: "transient", shutdown: 1000 })
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
  execArgv: options?.execArgv
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
  | { readonly _tag: "SupervisorGaveUp"; readonly path: string; readonly reason: string; readonly at: number }

/**
 * A snapshot of one node of the tree, as data.
 *
 * @since 0.1.0
 * @category models
 */
export interface TreeNode {
  readonly id: string
  readonly kind: "supervisor" | "worker"
  readonly status: "running" | "restarting" | "stopped" | "failed"
  readonly pid: number | null
  /** Completed restarts of this child. */
  readonly restarts: number
  /** Messages waiting or being handled, for a worker. */
  readonly mailbox: number | null
  readonly actor?: string | undefined
  readonly strategy?: Strategy | undefined
  readonly children?: ReadonlyArray<TreeNode> | undefined
}

/**
 * A running supervision tree.
 *
 * @since 0.1.0
 * @category models
 */
export interface Supervisor {
  /** A client of the worker at `path` (`"counter"`, or `"sup2/c3"` in a nested supervisor). */
  readonly ref: <A extends Actor.Any>(path: string, actor: A) => Actor.ActorRef<A>
  /** The tree as data: ids, kinds, pids, status, restart counts, mailbox depths. */
  readonly tree: Effect.Effect<TreeNode>
  /** Lifecycle events from now on. */
  readonly events: Stream.Stream<Event>
  /** Waits until the supervisor stops; fails if it gave up (or, with `SupervisorFailed`, if its own bookkeeping failed). */
  readonly join: Effect.Effect<void, RestartIntensityExceeded | SupervisorFailed>
  /** Stops every child, right to left, with its shutdown; harmless twice. */
  readonly stop: Effect.Effect<void>
  /**
   * OTP's `start_child`: checks `spec`, adds it after the other children and starts it. The new child restarts
   * under the same strategy, restart type and intensity as the others. A start that fails keeps no spec.
   */
  readonly startChild: (
    spec: ChildSpec
  ) => Effect.Effect<void, ChildStartFailed | ChildOperationFailed | InvalidSupervisorSpec>
  /** OTP's `terminate_child`: stops the child by its shutdown; its spec stays (a `temporary` one is removed). */
  readonly terminateChild: (id: string) => Effect.Effect<void, ChildOperationFailed>
  /** OTP's `restart_child`: starts a terminated child again; `running` if it runs or restarts. */
  readonly restartChild: (id: string) => Effect.Effect<void, ChildStartFailed | ChildOperationFailed>
  /** OTP's `delete_child`: removes a terminated child's spec; `running` if it runs or restarts. */
  readonly deleteChild: (id: string) => Effect.Effect<void, ChildOperationFailed>
  /** OTP's `which_children`: the root's children, in start order. */
  readonly whichChildren: Effect.Effect<ReadonlyArray<ChildInfo>>
  /** OTP's `count_children`, for the root's children. */
  readonly countChildren: Effect.Effect<ChildCounts>
}

/**
 * One child, as `whichChildren` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildInfo {
  readonly id: string
  readonly kind: "supervisor" | "worker"
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
