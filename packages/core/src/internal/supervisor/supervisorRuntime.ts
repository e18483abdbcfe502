/**
 * The running side of `Supervisor`: one `Node` per supervisor in the tree.
 *
 * A node starts its children left to right and watches each one. Every end
 * of a child arrives in the node's inbox and is handled there, one at a
 * time, by the strategy: restart types, the OTP intensity window, the
 * backoff, the stop of the affected siblings right to left, the restart left
 * to right. A restart that fails counts as a restart and is tried again. A
 * node that gives up stops its children and reports an abnormal end to its
 * parent node, which handles it like any child's end.
 *
 * Worker children are actor hosts (`actorHost.ts`) with one eagerly started
 * actor; their cells (mailboxes) belong to the root and outlive restarts.
 * `Host` children are hosts without an actor of their own, for `Keyed`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Actor from "../../Actor.ts"
import type * as Keyed from "../../Keyed.ts"
import * as Metrics from "../../Metrics.ts"
import type * as Pool from "../../Pool.ts"
import * as RestartPolicy from "../../RestartPolicy.ts"
import type * as Supervisor from "../../Supervisor.ts"
import type { Transport } from "../../Transport.ts"
import {
  ChildOperationFailed,
  ChildStartFailed,
  type InvalidSupervisorSpec,
  RestartIntensityExceeded,
  SupervisorFailed
} from "../../TroupeError.ts"
import { ActorCell, resolveMailbox } from "../actor/actorCell.ts"
import * as ActorHost from "../actor/actorHost.ts"
import * as ActorRefs from "../actor/actorRefs.ts"
import type { BehaviourShape } from "../actor/actorRegistry.ts"
import { ignoredName } from "../actor/actorRegistry.ts"
import { counterState, gaugeState, register, unregister } from "../telemetry.ts"
import * as TimeSource from "../timeSource.ts"
import * as StartArgs from "./startArgs.ts"
import { checkChildren } from "./supervisorSpec.ts"

/** A host without an actor of its own (a `Keyed` group's child). */
export interface HostSpec {
  readonly _tag: "Host"
  readonly id: string
  readonly restart: Supervisor.RestartType
  readonly shutdown: Supervisor.Shutdown
  readonly preload: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execArgv?: ReadonlyArray<string> | undefined
  readonly onStarted: (host: ActorHost.ActorHost) => void
}

export type Spec = Supervisor.ChildSpec | HostSpec

/** A dynamic supervisor's child: a worker with its start arguments, encoded once by `startChild` (the same on restarts). */
interface TemplateWorkerSpec extends Supervisor.WorkerSpec {
  readonly startArgs: unknown
}

/** Why a supervisor ended abnormally: it gave up, or its own bookkeeping failed. */
export type SupervisorError = RestartIntensityExceeded | SupervisorFailed

export interface NodeOptions extends Supervisor.Options {
  /** Stop children all at once rather than right to left (OTP's `simple_one_for_one`). */
  readonly parallelStop?: boolean | undefined
  /** A dynamic supervisor's template: its children are started from it, with their own arguments. */
  readonly template?: Supervisor.Template<any> | undefined
}

/** What the whole tree shares. */
export interface Root {
  /** The tree's name in metrics (`supervisor` tag). */
  readonly name: string
  readonly context: Context.Context<Transport>
  /** The tree's time: the `Clock` of the context it was started in. */
  readonly clock: TimeSource.TimeSource
  readonly cells: Map<string, ActorCell>
  /** Each cell's mailbox-depth series, removed with the cell. */
  readonly cellSeries: Map<string, Metric.Registration>
  readonly events: PubSub.PubSub<Supervisor.Event>
  nextRef: number
  restarts: number
  escalations: number
  /** The tree's metric series, removed when it stops. */
  readonly registrations: Array<Metric.Registration>
  /** The endpoints of its actors that refs sent to other processes name, released when it stops. */
  readonly endpoints: ActorRefs.OwnedEndpoints
}

/** Whether the cell at `cellPath` belongs to the node or worker at `path` (`""`: the root, every cell). */
const isAt = (cellPath: string, path: string): boolean =>
  path === "" || cellPath === path || cellPath.startsWith(`${path}/`)

/** The last message of a tree's events, which no reader sees: its stream ends there. */
const endOfEvents = { _tag: "EndOfEvents" } as unknown as Supervisor.Event

/** The tree's events from now on, up to its end (`Node.finish`). */
export const eventsOf = (root: Root): Stream.Stream<Supervisor.Event> =>
  Stream.takeWhile(Stream.fromPubSub(root.events), (event) => event !== endOfEvents)

interface Running {
  readonly pid: number | null
  readonly host: ActorHost.ActorHost | undefined
  readonly node: Node | undefined
  /** A pool or a keyed group run as a child. */
  readonly service: unknown
  /** Completes when the child ends by itself, with why. */
  readonly ended: Effect.Effect<ActorHost.ExitReason>
  readonly stop: (shutdown: Supervisor.Shutdown) => Effect.Effect<void>
}

/** A worker whose actor called `Actor.ignore` in its build: recorded, not running (OTP's `ignore`). */
const ignored = Symbol("ignored")

interface Child {
  readonly spec: Spec
  readonly path: string
  generation: number
  status: "running" | "restarting" | "stopped"
  restarts: number
  /** Its share of the node's restart core: its run of failures and backoff. */
  readonly restarter: RestartPolicy.ChildRestarts
  running: Running | undefined
}

type Message =
  | {
      readonly _tag: "Ended"
      readonly child: Child
      readonly generation: number
      readonly reason: ActorHost.ExitReason
    }
  | {
      readonly _tag: "Restart"
      readonly children: ReadonlyArray<Child>
      /** Each child's generation when the restart was scheduled: one stopped since then (terminated) is left. */
      readonly generations: ReadonlyArray<number>
    }
  /** An operation on the children (`startChild`, `terminateChild`, …), run in turn with the ends and restarts. */
  | { readonly _tag: "Call"; readonly run: Effect.Effect<void> }

/** A worker's start bound when its spec gives none (a keyed host's, always). */
const defaultStartTimeout = Duration.seconds(30)

export class Node {
  readonly children: Array<Child>
  readonly inbox = Effect.runSync(Queue.unbounded<Message>())
  readonly ended = Deferred.makeUnsafe<void, SupervisorError>()
  status: "running" | "stopped" | "failed" = "running"
  private readonly restarter: RestartPolicy.Restarter
  private scope: Scope.Closeable | undefined
  private nextDynamicId = 0

  readonly root: Root
  readonly path: string
  readonly options: NodeOptions

  constructor(root: Root, path: string, options: NodeOptions, specs: ReadonlyArray<Spec>) {
    this.root = root
    this.path = path
    this.options = options
    this.restarter = RestartPolicy.makeRestarter({
      intensity: options.intensity ?? RestartPolicy.supervisorDefaults.intensity,
      period: options.period ?? RestartPolicy.supervisorDefaults.period,
      backoff: options.backoff
    })
    this.children = specs.map((spec) => this.childOf(spec))
  }

  /** Wall-clock time, for events (the restart core reads the monotonic `Clock`). */
  private now(): number {
    return this.root.clock.wallMillis()
  }

  private publish(event: Supervisor.Event) {
    PubSub.publishUnsafe(this.root.events, event)
  }

  /** Starts every child left to right; on a failure, stops those started and fails. */
  start(): Effect.Effect<void, ChildStartFailed> {
    return Effect.gen({ self: this }, function* () {
      this.scope = yield* Scope.make()
      yield* Effect.forkIn(this.loop(), this.scope)
      // A copy: a child whose start is ignored may be removed on the way.
      for (const child of [...this.children]) {
        const started = yield* Effect.exit(this.startChild(child))
        if (Exit.isFailure(started)) {
          yield* this.stop
          return yield* started
        }
      }
    })
  }

  /**
   * Starts one child. A child that came up is recorded as running even when the supervisor is interrupted
   * (it stops) right after: the stop that interrupted it then finds it and stops it.
   */
  private startChild(child: Child): Effect.Effect<void, ChildStartFailed> {
    return Effect.suspend(() => {
      const generation = ++child.generation
      return Effect.asVoid(
        Effect.onExit(this.launch(child), (exit) =>
          Exit.isFailure(exit)
            ? Effect.void
            : exit.value === ignored
              ? this.ignoredStart(child)
              : this.started(child, generation, exit.value)
        )
      )
    })
  }

  /**
   * A start its actor declined (`Actor.ignore`). As OTP, a `temporary` child or a dynamic supervisor's child is
   * not kept (nothing could start it again, and it would hold a `maxChildren` slot); any other is kept, not
   * running. Either way a message to it fails at once (OTP's `noproc`), not after its ask timeout.
   */
  private ignoredStart(child: Child): Effect.Effect<void> {
    return Effect.sync(() => {
      child.running = undefined
      child.status = "stopped"
      this.publish({ _tag: "ChildIgnored", path: child.path, at: this.now() })
      const reason = `${child.path} ignored its start`
      if (child.spec.restart === "temporary" || this.options.template !== undefined) this.remove(child, reason)
      else this.killCells(child.path, reason)
    })
  }

  private started(child: Child, generation: number, running: Running): Effect.Effect<void> {
    return Effect.andThen(child.restarter.started, () => {
      child.running = running
      child.status = "running"
      this.publish({ _tag: "ChildStarted", path: child.path, pid: running.pid, at: this.now() })
      // Detached: it ends with the child (every child is stopped in the end); a late message of a stopped
      // generation is ignored.
      return Effect.asVoid(
        Effect.forkDetach(
          Effect.flatMap(running.ended, (reason) =>
            Queue.offer(this.inbox, { _tag: "Ended", child, generation, reason })
          )
        )
      )
    })
  }

  /**
   * Starts what a spec describes: a process with its actor, a bare host, a nested (or dynamic) supervisor, or a
   * service (a pool, a keyed group).
   */
  private launch(child: Child): Effect.Effect<Running | typeof ignored, ChildStartFailed> {
    const spec = child.spec
    const failed = (message: string) => new ChildStartFailed({ child: child.path, message })
    if (spec._tag === "Supervisor" || spec._tag === "Dynamic") {
      const node =
        spec._tag === "Supervisor"
          ? new Node(this.root, child.path, spec.options, spec.children)
          : new Node(
              this.root,
              child.path,
              { ...spec.options, strategy: "oneForOne", parallelStop: true, template: spec.template },
              []
            )
      const ended = Deferred.await(node.ended).pipe(
        Effect.as<ActorHost.ExitReason>("shutdown"),
        Effect.catch(() => Effect.succeed<ActorHost.ExitReason>("abnormal"))
      )
      // Interrupted while it starts (this supervisor stops), it stops the children it started.
      return node.start().pipe(
        Effect.onInterrupt(() => node.stop),
        Effect.as<Running>({ pid: null, host: undefined, node, service: undefined, ended, stop: () => node.stop })
      )
    }
    if (spec._tag === "Service") {
      // Its own scope: the service stops when the scope closes (a pool drains, a group stops its hosts).
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen({ self: this }, function* () {
          const scope = yield* Scope.make()
          const running = yield* restore(
            spec.start.pipe(Scope.provide(scope), Effect.provideContext(this.root.context))
          ).pipe(
            Effect.onError(() => Scope.close(scope, Exit.void)),
            Effect.mapError((error) => failed(error.message))
          )
          return {
            pid: null,
            host: undefined,
            node: undefined,
            service: running.value,
            ended: running.ended,
            stop: () => Scope.close(scope, Exit.void)
          } satisfies Running
        })
      )
    }
    // Only the waits are interruptible: a host spawned or half activated when this supervisor stops is stopped
    // here, never left running unrecorded.
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen({ self: this }, function* () {
        const scope = yield* Scope.make()
        const startTimeout = (spec._tag === "Worker" ? spec.startTimeout : undefined) ?? defaultStartTimeout
        const host = yield* restore(
          ActorHost.spawn({
            preload: spec._tag === "Host" ? spec.preload : [spec.behaviour.module],
            env: spec.env,
            execArgv: spec.execArgv,
            shutdownTimeout: Duration.millis(typeof spec.shutdown === "number" ? spec.shutdown : 0),
            startTimeout
          }).pipe(Scope.provide(scope), Effect.provideContext(this.root.context))
        ).pipe(
          Effect.onError(() => Scope.close(scope, Exit.void)),
          Effect.mapError((error) => failed(error.message))
        )
        const stop = (shutdown: Supervisor.Shutdown) =>
          host.stop(shutdown).pipe(Effect.andThen(Scope.close(scope, Exit.void)))
        if (spec._tag === "Host") {
          spec.onStarted(host)
        } else {
          host.onHealthy(() => {
            Effect.runSync(child.restarter.healthy)
            this.publish({ _tag: "ChildHealthy", path: child.path, at: this.now() })
          })
          const cell = this.cellOf(child.path, spec)
          cell.revive()
          const startArgs = "startArgs" in spec ? (spec as TemplateWorkerSpec).startArgs : undefined
          const activated = yield* Effect.exit(restore(Effect.timeout(cell.start(host, startArgs), startTimeout)))
          if (Exit.isFailure(activated)) {
            if (Cause.hasInterruptsOnly(activated.cause)) {
              yield* stop(spec.shutdown)
              return yield* Effect.interrupt
            }
            const error = activated.cause.reasons.find((reason) => reason._tag === "Fail")
            const reply = error?._tag === "Fail" ? (error.error as { name?: string; message?: string }) : undefined
            if (reply?.name === ignoredName) {
              yield* stop(spec.shutdown)
              return ignored
            }
            yield* stop("brutalKill")
            return yield* failed(reply?.message ?? "the actor did not start in time")
          }
        }
        return {
          pid: host.pid,
          host,
          node: undefined,
          service: undefined,
          ended: Effect.map(host.down, (down) => down.reason),
          stop
        } satisfies Running
      })
    )
  }

  private cellOf(path: string, spec: Supervisor.WorkerSpec): ActorCell {
    let cell = this.root.cells.get(path)
    if (cell === undefined) {
      cell = new ActorCell({
        behaviour: spec.behaviour as unknown as BehaviourShape,
        key: path,
        ref: this.root.nextRef++,
        settings: resolveMailbox(spec.mailbox),
        locate: () => undefined,
        exitWithActor: true,
        clock: this.root.clock
      })
      this.root.cells.set(path, cell)
      const counted = cell
      const series = register(
        Metrics.mailboxDepth,
        { supervisor: this.root.name, actor: cell.name, key: path },
        this.root.context,
        () => gaugeState(counted.depth),
        this.root.registrations
      )
      this.root.cellSeries.set(path, series)
    }
    return cell
  }

  /**
   * Handles the inbox, one message at a time. An unexpected error in handling one (a defect) does not end the
   * loop silently: the supervisor fails with `SupervisorFailed`, stopping its children, as when it gives up.
   */
  private loop(): Effect.Effect<never> {
    return Effect.forever(
      Effect.flatMap(Queue.take(this.inbox), (message) =>
        message._tag === "Call"
          ? message.run
          : this.status !== "running"
            ? Effect.void
            : (message._tag === "Ended"
                ? this.onEnded(message.child, message.generation, message.reason)
                : this.restart(message.children, message.generations)
              ).pipe(
                Effect.catchCause((cause) =>
                  Cause.hasInterruptsOnly(cause)
                    ? Effect.failCause(cause)
                    : this.giveUp(new SupervisorFailed({ path: this.path, reason: Cause.pretty(cause) }))
                )
              )
      )
    )
  }

  private onEnded(child: Child, generation: number, reason: ActorHost.ExitReason): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      if (child.generation !== generation || child.status !== "running") return
      const ended = child.running
      const pid = ended?.pid ?? null
      child.running = undefined
      child.status = "stopped"
      // It ended by itself (a crash, an exit): what its launch still holds goes now, as on a stop. For a
      // process, that is the final SIGKILL to its process group, so no grandchild outlives it.
      if (ended !== undefined) yield* ended.stop("brutalKill")
      this.publish({ _tag: "ChildExited", path: child.path, pid, reason, at: this.now() })
      const restart = child.spec.restart
      if (restart === "temporary") {
        this.remove(child, `temporary child ${child.path} ended (${reason})`)
        return yield* this.afterSignificantEnd(child)
      }
      if (restart === "transient" && reason !== "abnormal") {
        // A dynamic supervisor keeps no child it will not restart (simple_one_for_one): its maxChildren slot is free.
        if (this.options.template !== undefined) this.remove(child, `${child.path} ended (${reason}) and is transient`)
        else this.killCells(child.path, `${child.path} ended (${reason}) and is transient`)
        return yield* this.afterSignificantEnd(child)
      }
      const delay = yield* this.countRestart(child, reason)
      if (delay === undefined) return
      const targets = this.affected(child)
      for (const sibling of [...targets].reverse()) {
        if (sibling === child) continue
        yield* this.stopChild(sibling)
        if (sibling.spec.restart === "temporary") this.remove(sibling, `temporary child ${sibling.path} was stopped`)
      }
      const restarting = targets.filter((target) => this.children.includes(target))
      for (const target of restarting) target.status = "restarting"
      this.publish({ _tag: "ChildRestarting", path: child.path, delayMs: delay, at: this.now() })
      yield* this.scheduleRestart(restarting, delay)
    })
  }

  /**
   * Records a restart in the restart core; returns the backoff delay, or `undefined` after giving up.
   * `startFailed`: the child never ran since its last failure, so its run of consecutive failures goes on.
   */
  private countRestart(child: Child, reason: string, startFailed = false): Effect.Effect<number | undefined> {
    return Effect.gen({ self: this }, function* () {
      const decision = yield* child.restarter.failed({ startFailed })
      if (decision._tag === "Restart") return Duration.toMillis(decision.delay)
      yield* this.giveUp(
        new RestartIntensityExceeded({
          restarts: decision.reason === "intensity" ? decision.restarts : decision.consecutive,
          periodMs: Duration.toMillis(decision.period),
          reason:
            decision.reason === "intensity"
              ? `${child.path} ended (${reason})`
              : `${child.path} failed ${decision.consecutive} times in a row (maxRestarts ${this.options.backoff?.maxRestarts})`
        })
      )
      return undefined
    })
  }

  private affected(child: Child): ReadonlyArray<Child> {
    switch (this.options.strategy ?? "oneForOne") {
      case "oneForOne":
        return [child]
      case "oneForAll":
        return this.children
      case "restForOne":
        return this.children.slice(this.children.indexOf(child))
    }
  }

  /**
   * Restarts `children` after `delayMs`. A retry (`retry`: the last start failed) always goes back through the
   * inbox, as OTP's `try_again_restart`: the ends of other children are handled, and counted, in between.
   */
  private scheduleRestart(children: ReadonlyArray<Child>, delayMs: number, retry = false): Effect.Effect<void> {
    const generations = children.map((child) => child.generation)
    const message: Message = { _tag: "Restart", children, generations }
    if (delayMs <= 0) return retry ? Queue.offer(this.inbox, message) : this.restart(children, generations)
    return Effect.asVoid(
      Effect.forkIn(
        Effect.andThen(Effect.sleep(Duration.millis(delayMs)), Queue.offer(this.inbox, message)),
        this.scope!
      )
    )
  }

  /**
   * Restarts `children` left to right; a start that fails counts as a restart and is tried again, as OTP's
   * `try_again_restart`: under `oneForAll` the whole group (the children this round already restarted are
   * stopped again, right to left), otherwise from the child that failed on. A child stopped since the restart
   * was scheduled (`generations`: a `terminateChild` during the backoff, or a newer restart that took it over)
   * is left as it is; the others still restart.
   */
  private restart(scheduled: ReadonlyArray<Child>, generations: ReadonlyArray<number>): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      const children = scheduled.filter((child, index) => child.generation === generations[index])
      for (const [index, child] of children.entries()) {
        if (this.status !== "running" || !this.children.includes(child)) continue
        const started = yield* Effect.exit(this.startChild(child))
        if (Exit.isSuccess(started)) {
          this.countCompletedRestart(child)
          continue
        }
        child.status = "restarting"
        const failure = Cause.squash(started.cause)
        const message = failure instanceof ChildStartFailed ? failure.message : Cause.pretty(started.cause)
        this.publish({ _tag: "ChildStartFailed", path: child.path, message, at: this.now() })
        const delay = yield* this.countRestart(child, "its restart failed", true)
        if (delay === undefined) return
        const wholeGroup = (this.options.strategy ?? "oneForOne") === "oneForAll"
        if (wholeGroup) {
          for (const sibling of children.slice(0, index).reverse()) {
            if (!this.children.includes(sibling)) continue
            yield* this.stopChild(sibling)
            sibling.status = "restarting"
          }
        }
        return yield* this.scheduleRestart(wholeGroup ? children : children.slice(index), delay, true)
      }
    })
  }

  /** Counts a completed restart: a start that `Actor.ignore` declined brought nothing up, so it is none. */
  private countCompletedRestart(child: Child) {
    if (child.status !== "running") return
    child.restarts++
    this.root.restarts++
  }

  private stopChild(child: Child): Effect.Effect<void> {
    return Effect.suspend(() => {
      child.generation++
      const running = child.running
      child.running = undefined
      child.status = "stopped"
      if (running === undefined) return Effect.void
      // Uninterruptible: a stop cut short (SIGTERM sent, no SIGKILL after it) could leave the process behind.
      return Effect.uninterruptible(running.stop(child.spec.shutdown)).pipe(
        Effect.andThen(
          Effect.sync(() => {
            const status = running.host?.connection.exitStatus()
            this.publish({
              _tag: "ChildStopped",
              path: child.path,
              pid: running.pid,
              code: status?.code ?? null,
              signal: status?.signal ?? null,
              at: this.now()
            })
          })
        )
      )
    })
  }

  private remove(child: Child, reason: string) {
    const index = this.children.indexOf(child)
    if (index >= 0) this.children.splice(index, 1)
    this.forgetCells(child.path, reason)
    this.publish({ _tag: "ChildRemoved", path: child.path, at: this.now() })
  }

  private killCells(path: string, reason: string) {
    for (const [cellPath, cell] of this.root.cells) if (isAt(cellPath, path)) cell.kill(reason)
  }

  /**
   * Kills the cells of a child whose spec is gone (removed, deleted, or never added) and forgets them: refs
   * taken before keep failing, and a child added later under the same id gets a cell of its own, with its
   * own behaviour and mailbox, instead of the old one.
   */
  private forgetCells(path: string, reason: string) {
    for (const [cellPath, cell] of [...this.root.cells]) {
      if (!isAt(cellPath, path)) continue
      cell.kill(reason)
      this.root.cells.delete(cellPath)
      const series = this.root.cellSeries.get(cellPath)
      if (series === undefined) continue
      this.root.cellSeries.delete(cellPath)
      this.root.registrations.splice(this.root.registrations.indexOf(series), 1)
      series.remove()
    }
  }

  private stopChildren(): Effect.Effect<void> {
    const children = [...this.children].reverse()
    return this.options.parallelStop === true
      ? Effect.asVoid(Effect.forEach(children, (child) => this.stopChild(child), { concurrency: "unbounded" }))
      : Effect.forEach(children, (child) => this.stopChild(child), { discard: true })
  }

  private giveUp(error: SupervisorError): Effect.Effect<void> {
    return this.end("failed", Exit.fail(error), `gave up: ${error.message}`, () => {
      this.root.escalations++
      this.publish({ _tag: "SupervisorGaveUp", path: this.path, reason: error.message, at: this.now() })
    })
  }

  /**
   * OTP's `auto_shutdown`, after a `significant` child ended by itself and is not restarted: under
   * `anySignificant` the supervisor shuts down; under `allSignificant`, once no significant child is left running.
   * It stops its other children and ends normally, so its parent sees a `shutdown` end.
   */
  private afterSignificantEnd(child: Child): Effect.Effect<void> {
    const mode = this.options.autoShutdown ?? "never"
    const significant = (spec: Spec) => spec._tag !== "Host" && spec.significant === true
    if (mode === "never" || !significant(child.spec)) return Effect.void
    const left = this.children.some((other) => significant(other.spec) && other.status !== "stopped")
    if (mode === "allSignificant" && left) return Effect.void
    return this.end("stopped", Exit.void, `shut down after its significant child ${child.path} ended (${mode})`)
  }

  /** Ends the node from its own loop: its children stop, its mailboxes fail, then its loop goes. */
  /**
   * This node has ended: its joiners hear how. The root's end is the end of the tree's events: each reader gets
   * what it has not read yet, then its stream ends (`eventsOf`).
   */
  private finish(exit: Exit.Exit<void, SupervisorError>): void {
    Deferred.doneUnsafe(this.ended, exit)
    if (this.path === "") PubSub.endUnsafe(this.root.events, endOfEvents)
  }

  private end(
    status: "stopped" | "failed",
    exit: Exit.Exit<void, SupervisorError>,
    why: string,
    beforeDone: () => void = () => {}
  ): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      this.status = status
      yield* this.stopChildren()
      this.killCells(this.path, `supervisor ${this.path || "(root)"} ${why}`)
      beforeDone()
      this.finish(exit)
      yield* this.refusePendingCalls
      if (this.scope !== undefined) yield* Effect.forkDetach(Scope.close(this.scope, Exit.void))
    })
  }

  /** Runs `operation` in the loop, in turn with the children's ends and restarts (OTP's `call`). */
  private call<A, E>(id: string, operation: () => Effect.Effect<A, E>): Effect.Effect<A, E | ChildOperationFailed> {
    return Effect.suspend(() => {
      const done = Deferred.makeUnsafe<A, E | ChildOperationFailed>()
      const refused = () => new ChildOperationFailed({ child: id, reason: "stopped" })
      const run = Effect.suspend(
        (): Effect.Effect<A, E | ChildOperationFailed> =>
          this.status === "running" ? operation() : Effect.fail(refused())
      ).pipe(
        Effect.exit,
        Effect.flatMap((exit) => Deferred.done(done, exit)),
        // The loop was stopped under it (this supervisor stopped or gave up, or its parent restarted it): its
        // caller is answered, never left waiting.
        Effect.onInterrupt(() => Deferred.done(done, Exit.fail(refused()))),
        Effect.asVoid
      )
      // A stopped node has no loop to run it: refused at once.
      if (this.status !== "running") return Effect.andThen(run, Deferred.await(done))
      return Queue.offer(this.inbox, { _tag: "Call", run }).pipe(Effect.andThen(Deferred.await(done)))
    })
  }

  /** Once the loop is gone, the operations still waiting in the inbox are refused (`stopped`), never left hanging. */
  private get refusePendingCalls(): Effect.Effect<void> {
    return Effect.flatMap(Effect.orDie(Queue.clear(this.inbox)), (messages) =>
      Effect.forEach(messages, (message) => (message._tag === "Call" ? message.run : Effect.void), { discard: true })
    )
  }

  private find(id: string): Effect.Effect<Child, ChildOperationFailed> {
    const child = this.children.find((candidate) => candidate.spec.id === id)
    return child === undefined
      ? Effect.fail(new ChildOperationFailed({ child: id, reason: "notFound" }))
      : Effect.succeed(child)
  }

  private childOf(spec: Spec): Child {
    return {
      spec,
      path: this.path === "" ? spec.id : `${this.path}/${spec.id}`,
      generation: 0,
      status: "stopped",
      restarts: 0,
      restarter: this.restarter.child(),
      running: undefined
    }
  }

  /** OTP's `start_child`: adds `spec` after the other children and starts it; a start that fails keeps no spec. */
  addChild(spec: Spec): Effect.Effect<void, ChildStartFailed | ChildOperationFailed> {
    return this.call(spec.id, () =>
      Effect.gen({ self: this }, function* () {
        if (this.children.some((child) => child.spec.id === spec.id)) {
          return yield* new ChildOperationFailed({ child: spec.id, reason: "alreadyPresent" })
        }
        if (this.children.length >= (this.options.maxChildren ?? Number.POSITIVE_INFINITY)) {
          return yield* new ChildOperationFailed({ child: spec.id, reason: "maxChildren" })
        }
        const child = this.childOf(spec)
        this.children.push(child)
        const started = yield* Effect.exit(this.startChild(child))
        if (Exit.isFailure(started)) {
          this.children.splice(this.children.indexOf(child), 1)
          this.forgetCells(child.path, `${child.path} could not start`)
          return yield* started
        }
      })
    )
  }

  /** The next number no child holds as its id: an explicit `startChild(args, { id })` may have taken it. */
  private nextFreeId(): string {
    let id: string
    do id = String(++this.nextDynamicId)
    while (this.children.some((child) => child.spec.id === id))
    return id
  }

  /**
   * A dynamic supervisor's `startChild`: a worker spec from the template and `args`, under `id` (default the next
   * number no child holds), added as `addChild` adds one. Returns the id.
   */
  addFromTemplate(
    args: unknown,
    id: string | undefined
  ): Effect.Effect<string, ChildStartFailed | ChildOperationFailed | InvalidSupervisorSpec> {
    return Effect.suspend(
      (): Effect.Effect<string, ChildStartFailed | ChildOperationFailed | InvalidSupervisorSpec> => {
        const template = this.options.template
        if (template === undefined)
          return Effect.fail(new ChildOperationFailed({ child: this.path, reason: "notFound" }))
        const childId = id ?? this.nextFreeId()
        // The template's `start` gives the child's process options, and only those (it cannot change the child's
        // id or restart type). One that throws fails this start, as a child that fails to start does.
        let processOptions: Supervisor.ProcessOptions | undefined
        try {
          processOptions = template.start(args) ?? undefined
        } catch (error) {
          const path = this.path === "" ? childId : `${this.path}/${childId}`
          const message = `its template's start threw: ${error instanceof Error ? error.message : String(error)}`
          return Effect.fail(new ChildStartFailed({ child: path, message }))
        }
        const spec: Supervisor.WorkerSpec = {
          _tag: "Worker",
          id: childId,
          behaviour: template.behaviour,
          restart: template.restart,
          shutdown: template.shutdown,
          mailbox: template.mailbox,
          startTimeout: template.startTimeout,
          significant: false,
          env: processOptions?.env,
          execArgv: processOptions?.execArgv
        }
        const invalid = checkChildren([spec], this.path, "never")
        if (invalid !== undefined) return Effect.fail(invalid)
        if (template.args === undefined) return Effect.as(this.addChild(spec), childId)
        const field = this.path === "" ? `${childId}.args` : `${this.path}/${childId}.args`
        return StartArgs.encode(template.args, args, field).pipe(
          Effect.flatMap((startArgs) => {
            const withArgs: TemplateWorkerSpec = { ...spec, startArgs }
            return this.addChild(withArgs)
          }),
          Effect.as(childId)
        )
      }
    )
  }

  /**
   * OTP's `terminate_child`: stops the child by its shutdown and keeps its spec (a `temporary` one, or any child
   * of a dynamic supervisor, is removed).
   */
  terminateChild(id: string): Effect.Effect<void, ChildOperationFailed> {
    return this.call(id, () =>
      Effect.gen({ self: this }, function* () {
        const child = yield* this.find(id)
        yield* this.stopChild(child)
        if (child.spec.restart === "temporary" || this.options.template !== undefined) {
          this.remove(child, `${child.path} was terminated`)
        } else {
          // As OTP's `noproc`: a message to it fails at once, not after its ask timeout; `restartChild` revives it.
          this.killCells(child.path, `${child.path} was terminated`)
        }
      })
    )
  }

  /** The supervisor at `path` below this one (`""`: this one), if it runs. */
  nodeAt(path: string): Node | undefined {
    if (path === "") return this
    const [id, ...rest] = path.split("/")
    const node = this.children.find((child) => child.spec.id === id)?.running?.node
    return node?.nodeAt(rest.join("/"))
  }

  /** The service (pool, keyed group) running at `path` below this one, with its kind. */
  serviceAt(path: string): { readonly kind: string; readonly value: unknown } | undefined {
    const at = path.lastIndexOf("/")
    const node = this.nodeAt(at < 0 ? "" : path.slice(0, at))
    const child = node?.children.find((candidate) => candidate.spec.id === path.slice(at + 1))
    return child?.spec._tag === "Service" && child.running !== undefined
      ? { kind: child.spec.kind, value: child.running.service }
      : undefined
  }

  /** OTP's `which_children`. */
  get whichChildren(): ReadonlyArray<Supervisor.ChildInfo> {
    return this.children.map((child) => {
      const { id, kind, pid, status } = this.childTree(child)
      return { id, kind, status, pid }
    })
  }

  /** OTP's `count_children`. */
  get countChildren(): Supervisor.ChildCounts {
    const children = this.whichChildren
    const supervisors = children.filter((child) => child.kind === "supervisor").length
    return {
      specs: children.length,
      active: children.filter((child) => child.status === "running").length,
      supervisors,
      workers: children.length - supervisors
    }
  }

  /** OTP's `restart_child`: starts a terminated child again from its spec. */
  restartChild(id: string): Effect.Effect<void, ChildStartFailed | ChildOperationFailed> {
    return this.call(id, () =>
      Effect.gen({ self: this }, function* () {
        const child = yield* this.find(id)
        if (child.status !== "stopped") return yield* new ChildOperationFailed({ child: id, reason: "running" })
        yield* this.startChild(child)
        this.countCompletedRestart(child)
      })
    )
  }

  /** OTP's `delete_child`: removes a terminated child's spec; its mailbox fails with `ActorDied`. */
  deleteChild(id: string): Effect.Effect<void, ChildOperationFailed> {
    return this.call(id, () =>
      Effect.gen({ self: this }, function* () {
        const child = yield* this.find(id)
        if (child.status !== "stopped") return yield* new ChildOperationFailed({ child: id, reason: "running" })
        this.remove(child, `${child.path} was deleted`)
      })
    )
  }

  /**
   * Stops every child (right to left, or all at once) and ends the node; harmless twice. The loop goes first,
   * with any restart in flight: a child it was starting is stopped there, or recorded and stopped here.
   */
  get stop(): Effect.Effect<void> {
    return Effect.uninterruptible(
      Effect.suspend(() => {
        if (this.status !== "running") return Deferred.await(this.ended).pipe(Effect.ignore)
        this.status = "stopped"
        return (this.scope === undefined ? Effect.void : Scope.close(this.scope, Exit.void)).pipe(
          Effect.andThen(this.stopChildren()),
          Effect.andThen(
            Effect.sync(() => {
              this.killCells(this.path, `supervisor ${this.path || "(root)"} stopped`)
              this.finish(Exit.void)
            })
          ),
          Effect.andThen(this.refusePendingCalls)
        )
      })
    )
  }

  get join(): Effect.Effect<void, SupervisorError> {
    return Deferred.await(this.ended)
  }

  tree(id: string): Supervisor.TreeNode {
    return {
      id,
      kind: "supervisor",
      status: this.status === "running" ? "running" : this.status,
      pid: null,
      restarts: 0,
      mailbox: null,
      strategy: this.options.strategy ?? "oneForOne",
      children: this.children.map((child) => this.childTree(child))
    }
  }

  private childTree(child: Child): Supervisor.TreeNode {
    const node = child.running?.node
    if (node !== undefined) return { ...node.tree(child.spec.id), restarts: child.restarts }
    const cell = this.root.cells.get(child.path)
    const spec = child.spec
    return {
      id: spec.id,
      kind:
        spec._tag === "Supervisor" || spec._tag === "Dynamic"
          ? "supervisor"
          : spec._tag === "Service"
            ? spec.kind
            : "worker",
      status: child.status,
      pid: child.running?.pid ?? null,
      restarts: child.restarts,
      mailbox: cell?.depth ?? null,
      actor: child.spec._tag === "Worker" ? child.spec.behaviour.actor.name : undefined
    }
  }
}

/** A client of one cell, typed by the caller; sent to another process, it names its actor's endpoint in `root`. */
export const refOf = <A extends Actor.Any>(
  actor: A,
  key: string,
  cell: () => ActorCell,
  root: Root
): Actor.ActorRef<A> =>
  ActorRefs.withRoute(
    {
      actor,
      key,
      ask: ((tag: string, payload: unknown) => cell().send(tag, payload, "ask")) as Actor.ActorRef<A>["ask"],
      tell: ((tag: string, payload: unknown) => cell().send(tag, payload, "tell")) as Actor.ActorRef<A>["tell"],
      offer: ((tag: string, payload: unknown, options?: { readonly wait?: Duration.Input | undefined }) =>
        cell().send(tag, payload, "offer", options?.wait)) as Actor.ActorRef<A>["offer"],
      depth: Effect.sync(() => cell().depth)
    },
    { cell, endpoints: root.endpoints }
  )

export const makeRoot = (name: string) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Transport>()
    const events = yield* PubSub.unbounded<Supervisor.Event>()
    const root: Root = {
      name,
      context,
      clock: TimeSource.make(context),
      cells: new Map(),
      cellSeries: new Map(),
      events,
      nextRef: 0,
      restarts: 0,
      escalations: 0,
      registrations: [],
      endpoints: new ActorRefs.OwnedEndpoints()
    }
    const tags = { supervisor: name }
    register(Metrics.supervisorRestarts, tags, context, () => counterState(root.restarts), root.registrations)
    register(Metrics.supervisorEscalations, tags, context, () => counterState(root.escalations), root.registrations)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        unregister(root.registrations)
        root.endpoints.release()
      })
    )
    return root
  })

/** The operations on one supervisor's children, found by `locate` at each call. */
const childrenOf = <E>(
  locate: Effect.Effect<Node, E>,
  autoShutdown: (node: Node) => unknown
): Supervisor.Children<E> => ({
  startChild: (spec) =>
    Effect.flatMap(
      locate,
      (node): Effect.Effect<void, ChildStartFailed | ChildOperationFailed | InvalidSupervisorSpec> => {
        const invalid = checkChildren([spec], node.path, autoShutdown(node))
        return invalid === undefined ? node.addChild(spec) : Effect.fail(invalid)
      }
    ),
  terminateChild: (id) => Effect.flatMap(locate, (node) => node.terminateChild(id)),
  restartChild: (id) => Effect.flatMap(locate, (node) => node.restartChild(id)),
  deleteChild: (id) => Effect.flatMap(locate, (node) => node.deleteChild(id)),
  whichChildren: Effect.map(locate, (node) => node.whichChildren),
  countChildren: Effect.map(locate, (node) => node.countChildren)
})

/** A dynamic supervisor's operations, found by `locate` at each call. */
const dynamicChildrenOf = <Args, E>(locate: Effect.Effect<Node, E>): Supervisor.DynamicChildren<Args, E> => ({
  startChild: (args, options) => Effect.flatMap(locate, (node) => node.addFromTemplate(args, options?.id)),
  terminateChild: (id) => Effect.flatMap(locate, (node) => node.terminateChild(id)),
  whichChildren: Effect.map(locate, (node) => node.whichChildren),
  countChildren: Effect.map(locate, (node) => node.countChildren)
})

const notFound = (path: string) => new ChildOperationFailed({ child: path, reason: "notFound" })

/** A client of the worker at `path`, checked against `actor`. */
const refAt = <A extends Actor.Any>(root: Root, where: string, path: string, actor: A): Actor.ActorRef<A> => {
  const cell = root.cells.get(path)
  if (cell === undefined) throw new Error(`${where}: no worker at "${path}"`)
  if (cell.name !== actor.name)
    throw new Error(`${where}: the worker at "${path}" runs ${cell.name}, not ${actor.name}`)
  return refOf(actor, path, () => cell, root)
}

export const startRoot = (
  options: Supervisor.Options,
  specs: ReadonlyArray<Supervisor.ChildSpec>
): Effect.Effect<Supervisor.Supervisor, ChildStartFailed, Transport | Scope.Scope> =>
  Effect.gen(function* () {
    const root = yield* makeRoot(options.name ?? "supervisor")
    const node = new Node(root, "", options, specs)
    // Interruptible while it starts (a SIGTERM to a program that is still starting its tree): it then stops
    // the children it started, as a nested supervisor does.
    yield* Effect.acquireRelease(node.start().pipe(Effect.onInterrupt(() => node.stop)), () => node.stop, {
      interruptible: true
    })
    const nodeAt = (path: string) =>
      Effect.suspend(() => {
        const found = node.nodeAt(path)
        return found === undefined ? Effect.fail(notFound(path)) : Effect.succeed(found)
      })
    const serviceAt = (path: string, kind: string, check: (value: unknown) => boolean = () => true) =>
      Effect.suspend(() => {
        const found = node.serviceAt(path)
        return found === undefined || found.kind !== kind || !check(found.value)
          ? Effect.fail(notFound(path))
          : Effect.succeed(found.value)
      })
    return {
      ...childrenOf(Effect.succeed(node), () => options.autoShutdown),
      ref: <A extends Actor.Any>(path: string, actor: A) => refAt(root, "Supervisor.ref", path, actor),
      tree: Effect.sync(() => node.tree("(root)")),
      events: eventsOf(root),
      join: Deferred.await(node.ended),
      stop: node.stop,
      at: (path) => childrenOf(nodeAt(path), (found) => found.options.autoShutdown),
      dynamicAt: <Args>(path: string, template: Supervisor.Template<Args>) =>
        dynamicChildrenOf<Args, ChildOperationFailed>(
          Effect.flatMap(nodeAt(path), (found) =>
            found.options.template === template ? Effect.succeed(found) : Effect.fail(notFound(path))
          )
        ),
      poolAt: (path) => serviceAt(path, "pool") as Effect.Effect<Pool.Service, ChildOperationFailed>,
      keyedAt: <A extends Actor.Any>(path: string, actor: A) =>
        serviceAt(path, "keyed", (value) => (value as Keyed.Keyed<A>).actor.name === actor.name) as Effect.Effect<
          Keyed.Keyed<A>,
          ChildOperationFailed
        >
    } satisfies Supervisor.Supervisor
  })

export const startDynamicRoot = <Args>(
  options: Supervisor.DynamicOptions,
  template: Supervisor.Template<Args>
): Effect.Effect<Supervisor.DynamicSupervisor<Args>, never, Transport | Scope.Scope> =>
  Effect.gen(function* () {
    const root = yield* makeRoot(options.name ?? "dynamic")
    const node = new Node(root, "", { ...options, strategy: "oneForOne", parallelStop: true, template }, [])
    yield* Effect.acquireRelease(
      Effect.orDie(node.start()).pipe(Effect.onInterrupt(() => node.stop)),
      () => node.stop,
      {
        interruptible: true
      }
    )
    return {
      ...dynamicChildrenOf<Args, never>(Effect.succeed(node)),
      ref: <A extends Actor.Any>(id: string, actor: A) => refAt(root, "DynamicSupervisor.ref", id, actor),
      tree: Effect.sync(() => node.tree("(root)")),
      events: eventsOf(root),
      join: Deferred.await(node.ended),
      stop: node.stop
    } satisfies Supervisor.DynamicSupervisor<Args>
  })
