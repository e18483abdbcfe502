/**
 * One place in a pool, and the worker that fills it.
 *
 * A slot keeps its index for the pool's whole life; the worker in it comes
 * and goes (started, retired, crashed, replaced). The slot holds the items
 * dispatched to its current worker, in the order they were sent, and batches
 * the runs it sends in one pump into one message. `serve` is the supervision
 * path of one slot: spawn a worker, wait until it is ready (and initialized),
 * let it serve until it exits, then tell the pool what happened.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Balancer from "../../Balancer.ts"
import { ExitStatus } from "../../ExitStatus.ts"
import type * as Task from "../../Task.ts"
import type * as Transport from "../../Transport.ts"
import { stopInSteps } from "../../Transport.ts"
import { ArgumentEncodeError, InitializerError, SpawnError } from "../../TroupeError.ts"
import * as ChildClient from "../parent/childClient.ts"
import type { Timer } from "../timeSource.ts"
import { type Reply, type Run, runsMessage, type SpanRecord } from "../wire/frame.ts"
import type { Dispatcher, Item, Job } from "./dispatcher.ts"
import { exitLabel } from "./poolTelemetry.ts"

/** How a worker's life ended. */
export type Ending =
  | { readonly _tag: "Retired" }
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Stopped" }
  | {
      readonly _tag: "Crashed"
      readonly status: ExitStatus
      readonly pid: number
      readonly uptimeMs: number
      /** Tasks this worker answered before it died: one proves it was healthy (supervision's manual reset). */
      readonly served: number
      /** Tasks it was running when it died: it started, and a task killed it (not a crash loop at start). */
      readonly running: number
    }
  | { readonly _tag: "StartFailed"; readonly error: SpawnError | InitializerError }

export interface SlotContext {
  readonly dispatcher: Dispatcher
  readonly transport: Transport.Transport["Service"]
  /** The options of the next worker's spawn (its preload list grows as the pool meets new task modules). */
  readonly spawn: (worker: number) => Transport.SpawnOptions
  readonly initializer: { readonly task: Task.Any; readonly encoded: unknown } | undefined
  readonly maxTasksPerWorker: number
  readonly maxRssBytes: number
  readonly idleTimeoutMs: number | undefined
  readonly killGraceMs: number
  readonly startTimeout: Duration.Input
  /** Whether an idle worker in this slot may retire now (the pool stays above its minimum size). */
  readonly mayShrink: (slot: Slot) => boolean
  /** Whether the worker cannot serve a task module the pool now knows (it then retires when idle). */
  readonly isStale: (slot: Slot) => boolean
  /** A module did not finish loading in time in this slot's worker (which is then replaced). */
  readonly moduleTimedOut: (module: string, error: SpawnError) => void
}

const initId = -1

const endingReason = {
  Retired: "retired",
  Idle: "idle",
  Stopped: "stopped",
  Crashed: "crashed",
  StartFailed: "crashed"
} as const

const describeReply = (reply: Reply): string => {
  switch (reply._tag) {
    case "Defect":
      return `${reply.name}: ${reply.message}`
    case "Failure":
      return `failed with ${JSON.stringify(reply.error)}`
    case "SpawnFailed":
    case "EncodeFailed":
      return reply.message
    default:
      return reply._tag
  }
}

/**
 * `empty`: no supervising fiber owns the slot. `down`: between two workers (the fiber waits out a backoff).
 */
export type State = "empty" | "starting" | "ready" | "retiring" | "stopping" | "down"

export class Slot implements Balancer.WorkerView {
  /** Items the current worker holds, in the order they were sent. */
  readonly held = new Map<number, Item>()
  /**
   * The held items `withdrawable` may give back, in the order sent: the runs
   * of single-run jobs without a deadline (a `map` chunk runs in one worker).
   * At most one per job the worker holds, so a scan of it stays short however
   * many items a worker's chunks hold.
   */
  private readonly movable = new Set<Item>()
  /**
   * Jobs the current worker holds (what balancers weigh): a field, since a
   * balancer reads it for every worker at every pick; written only here.
   */
  inFlight = 0
  private current: State = "empty"
  pid = 0
  /** The worker's resident set size as it last reported it, in bytes. */
  rss: number | undefined = undefined
  private outbox: Array<Item> = []
  /** Items to interrupt, sent with the next `flush` (see `interrupt`). */
  private interrupts: Array<Item> = []
  /** The tasks whose module the current worker has been told (their later runs leave it out). */
  private readonly named = new Set<string>()
  private readonly isNamed = (task: string): boolean => this.named.has(task)
  /** Why the current worker was killed for breaking the protocol, if it was. */
  private violation: string | undefined = undefined
  /** The worker said it got a SIGTERM (`Terminating`): it interrupts its runs, then dies of the signal. */
  private terminating = false
  private connection: Transport.Connection | undefined
  private client: ChildClient.ChildClient | undefined
  private dispatched = 0
  private initialized: Deferred.Deferred<Reply> | undefined
  private ending: Ending | undefined
  private idleTimer: Timer | undefined

  readonly slot: number
  private readonly context: SlotContext

  constructor(slot: number, context: SlotContext) {
    this.slot = slot
    this.context = context
  }

  /** Where the slot's worker is in its life (changed only by the slot, through `become`). */
  get state(): State {
    return this.current
  }

  /** The state changes: leaving `starting` or reaching `empty` is what the pool's shutdown and `ready` wait for. */
  private become(state: State): void {
    const before = this.current
    this.current = state
    if (before === "starting" || state === "empty") this.context.dispatcher.changed()
  }

  /** A supervising fiber takes the empty slot: `false` if one already has it. */
  occupy(): boolean {
    if (this.current !== "empty") return false
    this.become("starting")
    return true
  }

  /** The slot's supervising fiber ended: no worker will start here until the slot is occupied again. */
  vacate(): void {
    this.become("empty")
  }

  /**
   * Whether the worker is leaving for good: it retired idle (or the pool is
   * stopping it), so no worker replaces it, though it may not have exited yet.
   */
  get leaving(): boolean {
    const ending = this.ending?._tag
    return ending === "Idle" || ending === "Stopped"
  }

  get available(): boolean {
    return this.current === "ready" && (this.modules === undefined || this.modules.has(this.context.dispatcher.module))
  }

  /** The task modules this worker can serve, when its transport fixes them at spawn; `undefined`: any. */
  modules: ReadonlySet<string> | undefined = undefined

  /**
   * The most jobs the worker may hold once it takes the job being placed.
   * Prefetched runs are refilled with hysteresis: a worker that holds more
   * than the dispatcher's `refillAt` takes another job only into a message
   * that is already going out (its outbox is not empty), so a busy worker
   * gets its next runs in one message when it runs low, not one message per
   * reply.
   */
  get capacity(): number {
    const dispatcher = this.context.dispatcher
    const quota = this.context.maxTasksPerWorker - this.dispatched
    const window = this.inFlight > dispatcher.refillAt && this.outbox.length === 0 ? this.inFlight : dispatcher.limit
    return Math.min(window, this.inFlight + Math.max(0, quota))
  }

  /**
   * Takes a job the dispatcher placed here: its runs go out with the next
   * `flush`. (The dispatcher stamps the job's dispatch time and starts its
   * deadline; the slot records what its worker holds.)
   */
  hold(job: Job): void {
    if (this.idleTimer !== undefined) {
      this.context.dispatcher.clock.cancel(this.idleTimer)
      this.idleTimer = undefined
    }
    if (this.isIdle) this.setIdle(false)
    this.inFlight++
    const items = job.items
    job.held += items.length
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      item.slot = this
      item.sent = false
      this.held.set(item.id, item)
      this.outbox.push(item)
    }
    if (items.length === 1 && job.timeoutMs === undefined) this.movable.add(items[0]!)
    this.dispatched += job.items.length
  }

  /**
   * The worker no longer holds `item` (it answered, the run could not be
   * sent, or the worker died): `true` when it held no other item of the
   * item's job. An item's dispatch fields (`slot`, `sent`, `started`) and
   * its job's `held` are the holding slot's to write; the dispatcher writes
   * the rest, and an item no slot holds.
   */
  private letGo(item: Item): boolean {
    item.slot = undefined
    this.held.delete(item.id)
    this.movable.delete(item)
    if (--item.job.held > 0) return false
    this.inFlight--
    return true
  }

  /** Lets go of every item the worker held, in the order they were sent (it exited). */
  private letGoAll(): Array<Item> {
    const items = [...this.held.values()]
    for (const item of items) this.letGo(item)
    return items
  }

  /** Read through a method: the state may change during a send (a transport reports a broken worker). */
  private isStopping(): boolean {
    return this.current === "stopping"
  }

  /** Sends the runs taken since the last flush, as one message, then the interrupts asked for meanwhile. */
  flush(): void {
    this.sendRuns()
    if (this.interrupts.length > 0) this.sendInterrupts()
  }

  private sendRuns(): void {
    // A stopping worker gets nothing more: what waits in the outbox never reached it, and is requeued on its exit.
    if (this.outbox.length === 0 || this.connection === undefined || this.current === "stopping") return
    const items = this.outbox
    this.outbox = []
    const runs: Array<Run> = new Array(items.length)
    for (let i = 0; i < items.length; i++) runs[i] = items[i]!.run
    try {
      this.connection!.sendUnsafe(runsMessage(runs, this.isNamed))
      // The transport found the worker broken as it sent (its channel is closed): the runs never reached it.
      const reached = !this.isStopping()
      for (let i = 0; i < items.length; i++) {
        items[i]!.sent = reached
        this.named.add(runs[i]!.task)
      }
    } catch {
      for (const item of items) this.sendAlone(item)
    }
  }

  private sendAlone(item: Item): void {
    const run = item.run
    try {
      this.connection!.sendUnsafe(run)
      item.sent = !this.isStopping()
      this.named.add(run.task)
    } catch (error) {
      if (item.slot !== this) return
      this.context.dispatcher.released(item, this.letGo(item))
      this.context.dispatcher.settle(
        item,
        Exit.fail(new ArgumentEncodeError({ task: run.task, message: `cannot send the payload: ${String(error)}` }))
      )
    }
  }

  /** Asks a worker that can load any module to load `module` now, ahead of its first task from it. */
  load(module: string): void {
    if (this.current !== "ready" || this.modules !== undefined) return
    try {
      this.connection?.sendUnsafe({ _tag: "Load", modules: [module] })
    } catch {
      // The worker is going away; its replacement preloads the module.
    }
  }

  /**
   * The newest item the worker may give back: sent, held behind the
   * `concurrency` oldest (which may be running), not started as far as the
   * pool knows, with no deadline, not asked back already, and a job of its
   * own (a `map` chunk runs in one worker).
   */
  withdrawable(concurrency: number): Item | undefined {
    return this.withdrawables(concurrency).at(-1)
  }

  /** Every item the worker may give back (see `withdrawable`), in the order sent. */
  withdrawables(concurrency: number): Array<Item> {
    if (this.current !== "ready" || this.inFlight <= concurrency || this.movable.size === 0) return []
    // The `concurrency` oldest runs may be running: never asked back.
    const front: Array<Item> = []
    for (const item of this.held.values()) {
      if (front.length === concurrency) break
      front.push(item)
    }
    const items: Array<Item> = []
    for (const item of this.movable) {
      if (item.sent && !item.started && !item.withdrawing && !item.settled && !front.includes(item)) items.push(item)
    }
    return items
  }

  /** Sends the interrupts asked for since the last flush, for the items the worker still holds, newest first. */
  private sendInterrupts(): void {
    const wanted = new Set(this.interrupts)
    this.interrupts = []
    const held = [...this.held.values()]
    for (let i = held.length - 1; i >= 0; i--) {
      const item = held[i]!
      if (!wanted.has(item)) continue
      try {
        this.connection?.sendUnsafe({ _tag: "Interrupt", id: item.id })
      } catch {
        // The channel is gone: the worker's exit releases the item.
      }
    }
  }

  /** Asks the worker to give `item` back if it has not started it (it answers `Withdrawn`; a started run answers as usual). */
  withdraw(item: Item): void {
    try {
      this.connection?.sendUnsafe({ _tag: "Withdraw", id: item.id })
    } catch {
      // The channel is gone: the worker's exit releases the item.
    }
  }

  /**
   * Asks the worker to stop one item; replaces the worker if it has not let go after `graceMs`. The interrupt goes
   * at the end of the tick, with the others asked for in it, newest run first: a worker starts the next run it
   * holds as soon as the running one lets go, so when callers give up together (one abort, many calls) the runs
   * held behind the running one must be dropped before it is interrupted.
   */
  interrupt(item: Item, graceMs: number): void {
    this.interrupts.push(item)
    this.context.dispatcher.scheduleFlush()
    this.context.dispatcher.clock.after(
      graceMs,
      () => {
        if (item.slot !== this) return
        // Replaced on purpose, not crashed: this does not count toward the restart intensity.
        this.ending ??= { _tag: "Retired" }
        this.kill()
      },
      true
    )
  }

  /** Stops the worker now: SIGTERM to its group, SIGKILL after the kill grace. Its exit releases what it held. */
  kill(): void {
    const connection = this.connection
    if (connection === undefined || connection.exitStatus() !== undefined) return
    this.become("stopping")
    this.context.dispatcher.clock.fork(stopInSteps(connection, ["SIGTERM", "SIGKILL"], this.context.killGraceMs))
  }

  /** Retires the worker once it holds nothing: no new work goes to it meanwhile. */
  retire(ending: "Retired" | "Idle" | "Stopped"): void {
    if (this.current !== "ready" && this.current !== "retiring") return
    this.become("retiring")
    this.ending ??= { _tag: ending }
    if (this.held.size === 0) this.stopGracefully()
  }

  /** Asks the worker to finish and exit with code 0; escalates to SIGTERM, then SIGKILL, each after the kill grace. */
  private stopGracefully(): void {
    const connection = this.connection
    if (connection === undefined) return
    this.become("stopping")
    // The pool waits for this worker's exit now.
    if (this.isIdle) this.setIdle(false)
    this.context.dispatcher.clock.fork(
      stopInSteps(connection, ["Close", "SIGTERM", "SIGKILL"], this.context.killGraceMs)
    )
  }

  /**
   * The worker broke the protocol (it closed its channel, sent more than the
   * intake limit, sent what is not a frame, or could not read what the pool
   * sent): it cannot be trusted to reply, so it is killed at once (by its
   * client, or by the caller), and its exit fails or requeues what it held,
   * as any crash does, with `reason`.
   */
  private violated = (reason: string): void => {
    this.violation ??= reason
    const connection = this.connection
    if (connection !== undefined && connection.exitStatus() === undefined) this.become("stopping")
  }

  /** Whether a worker process exists in this slot (spawned, not yet reaped). */
  get hasWorker(): boolean {
    return this.connection !== undefined
  }

  private onFrame = (value: ChildClient.OwnFrame): void => {
    switch (value._tag) {
      case "Reply":
        this.onReply(value.id, value.reply, this.context.dispatcher.clock.monotonicMillis())
        break
      case "Done": {
        // One clock reading per frame: its replies' run times, and the dispatch of what they make room for.
        const now = this.context.dispatcher.clock.monotonicMillis()
        const { ids, values } = value
        for (let i = 0; i < ids.length; i++) this.onReply(ids[i]!, { _tag: "Success", value: values[i] }, now)
        this.afterReplies(value.rss, now)
        break
      }
      case "Replies": {
        const now = this.context.dispatcher.clock.monotonicMillis()
        for (const { id, reply, spans } of value.replies) this.onReply(id, reply, now, spans)
        this.afterReplies(value.rss, now)
        break
      }
      case "Started": {
        const item = this.held.get(value.id)
        if (item !== undefined) item.started = true
        break
      }
      case "ProtocolError":
        // Which run the worker could not read is unknown: none of its runs can be trusted to be answered.
        this.violated(`it could not read a frame the pool sent (${value.message})`)
        this.client?.kill()
        break
      case "Terminating":
        this.terminating = true
        // It starts nothing more: what it gives back unstarted (`Withdrawn`) must go to another worker, not to it. A
        // SIGTERM the pool did not send (`kill -TERM` from a shell) gets the pool's bound too: a release that hangs, or
        // a task's own SIGTERM listener that keeps the worker alive, ends with SIGKILL after the kill grace.
        if (this.current === "ready" || this.current === "retiring") this.kill()
        break
      case "Stopped":
      case "Healthy":
        break
    }
  }

  /** `now`: the pool clock's reading when the reply's frame arrived. */
  private onReply(id: number, reply: Reply, now: number, spans?: ReadonlyArray<SpanRecord>): void {
    if (id === initId) {
      if (this.initialized !== undefined) Deferred.doneUnsafe(this.initialized, Exit.succeed(reply))
      return
    }
    const item = this.held.get(id)
    if (item === undefined) return
    // A run the worker interrupted because it got a SIGTERM, not because its caller gave up: the worker's exit by the
    // signal settles it (retried, `WorkerCrashed`, `ShutdownError`), as when a worker died of the signal at once.
    if (this.terminating && reply._tag === "Interrupted" && !item.settled) return
    if (reply._tag === "SpawnFailed" && reply.reason === "ModuleLoadTimeout") {
      // The worker may still be evaluating the module: it is replaced, and the pool does not load the module again.
      const { module } = item.run
      this.context.moduleTimedOut(
        module,
        new SpawnError({ reason: "ModuleLoadTimeout", module, task: item.task.name, message: reply.message })
      )
      this.retire("Retired")
    }
    if (reply._tag === "Withdrawn") this.context.dispatcher.withdrawn(item, this.letGo(item))
    else this.context.dispatcher.replied(item, this.letGo(item), this.slot, reply, spans, now)
  }

  private afterReplies(rss: number | undefined, now: number): void {
    if (rss !== undefined) {
      this.rss = rss
      if (rss > this.context.maxRssBytes) this.retire("Retired")
    }
    this.review(now)
  }

  /**
   * After a worker becomes ready or replies: retire it if it is due, arm its
   * idle timer, let the pool dispatch (`now`: the clock's reading, when the
   * caller has one).
   */
  private review(now?: number): void {
    const { dispatcher, maxTasksPerWorker } = this.context
    if (this.current === "ready" && this.dispatched >= maxTasksPerWorker) this.retire("Retired")
    // Only a worker whose modules were fixed at its spawn can be stale.
    if (this.current === "ready" && this.modules !== undefined && this.context.isStale(this)) this.retire("Retired")
    if (this.current === "retiring" && this.held.size === 0) this.stopGracefully()
    if (this.held.size === 0) this.armIdleTimer()
    dispatcher.pump(now)
    // A ready worker with nothing to do does not keep the program alive: one that never closes its pool still exits.
    if (this.current === "ready" && this.held.size === 0 && !this.isIdle) this.setIdle(true)
  }

  /** Whether the worker's connection was told it is idle (it then does not keep the parent alive). */
  private isIdle = false

  private setIdle(idle: boolean): void {
    this.isIdle = idle
    this.connection?.idle?.(idle)
  }

  /**
   * An idle worker retires after the idle timeout, if the pool may shrink.
   * A background timer: an idle worker does not keep the program alive, nor
   * does the wait for its retirement.
   */
  private armIdleTimer(): void {
    const { idleTimeoutMs } = this.context
    if (this.current !== "ready" || this.held.size > 0 || idleTimeoutMs === undefined) return
    this.idleTimer ??= this.context.dispatcher.clock.after(
      idleTimeoutMs,
      () => {
        this.idleTimer = undefined
        if (this.held.size === 0 && this.context.mayShrink(this)) this.retire("Idle")
      },
      true
    )
  }

  /**
   * One worker's life in this slot: spawn, wait for ready, initialize, serve
   * until exit. Always ends with the items it held released (failed, retried
   * or requeued) and the worker reaped.
   */
  readonly life: Effect.Effect<Ending> = Effect.suspend(() => {
    this.become("starting")
    this.isIdle = false
    this.ending = undefined
    this.dispatched = 0
    this.named.clear()
    this.violation = undefined
    this.terminating = false
    this.initialized = undefined
    return this.spawnAndServe.pipe(
      Effect.catch((error) => Effect.succeed<Ending>({ _tag: "StartFailed", error })),
      Effect.scoped,
      Effect.ensuring(Effect.sync(() => this.cleanUp()))
    )
  })

  private spawnAndServe = Effect.gen({ self: this }, function* () {
    const { initializer, spawn, startTimeout, transport } = this.context
    const telemetry = this.context.dispatcher.telemetry
    const client = yield* ChildClient.spawn(transport, {
      spawn: spawn(this.slot),
      child: {
        name: `${telemetry.name}-${this.slot}`,
        kind: "worker",
        pool: { name: telemetry.name, worker: this.slot }
      },
      logs: { context: telemetry.context, annotations: { "troupe.pool": telemetry.name, "troupe.worker": this.slot } },
      onFrame: this.onFrame,
      onViolation: this.violated
    })
    const connection = client.connection
    this.modules = connection.modules
    this.client = client
    this.connection = connection
    this.pid = connection.pid
    yield* client.awaitStart(startTimeout, "worker", "")
    if (initializer !== undefined) {
      this.initialized = Deferred.makeUnsafe<Reply>()
      connection.sendUnsafe({
        _tag: "Run",
        id: initId,
        module: initializer.task.module,
        task: initializer.task.name,
        payload: initializer.encoded
      })
      const reply = yield* Deferred.await(this.initialized).pipe(
        Effect.raceFirst(
          connection.exited.pipe(
            Effect.map(
              (status): Reply => ({
                _tag: "Defect",
                name: "WorkerExited",
                message: `the worker exited (${status}) while running its initializer`
              })
            )
          )
        ),
        Effect.timeoutOption(startTimeout),
        Effect.map((reply) =>
          reply._tag === "Some"
            ? reply.value
            : ({ _tag: "Defect", name: "Timeout", message: "the initializer did not finish in time" } satisfies Reply)
        )
      )
      if (reply._tag !== "Success") {
        const error = new InitializerError({ task: initializer.task.name, message: describeReply(reply) })
        return { _tag: "StartFailed", error } satisfies Ending
      }
    }
    const clock = this.context.dispatcher.clock
    const startedAt = clock.wallMillis()
    telemetry.workerStarts++
    telemetry.publish({ _tag: "WorkerStarted", worker: this.slot, pid: connection.pid, at: startedAt })
    this.become("ready")
    this.review()
    const status = yield* connection.exited
    // Only a worker the pool was stopping ended as planned (retired, idle, stopped): one that died while it still
    // served, retiring or not, crashed.
    const planned = this.current === "stopping"
    const held = this.letGoAll()
    this.become("down")
    this.context.dispatcher.died(held, connection.pid, status, this.violation)
    const crashed: Ending = {
      _tag: "Crashed",
      status,
      pid: connection.pid,
      uptimeMs: clock.wallMillis() - startedAt,
      served: this.dispatched - held.length,
      running: held.length
    }
    const ending = planned ? (this.ending ?? crashed) : crashed
    telemetry.workerExits.add(exitLabel(status))
    telemetry.publish({
      _tag: "WorkerExited",
      worker: this.slot,
      pid: connection.pid,
      code: status.code,
      signal: status.signal,
      reason: endingReason[ending._tag],
      at: clock.wallMillis()
    })
    return ending
  })

  private cleanUp(): void {
    if (this.idleTimer !== undefined) this.context.dispatcher.clock.cancel(this.idleTimer)
    this.idleTimer = undefined
    this.connection = undefined
    this.client = undefined
    this.rss = undefined
    this.outbox = []
    this.interrupts = []
    if (this.current !== "down") {
      const held = this.letGoAll()
      this.inFlight = 0
      this.become("down")
      if (held.length > 0) this.context.dispatcher.died(held, this.pid, new ExitStatus({ code: null, signal: null }))
    }
    // The worker is reaped (`hasWorker` is false now): the pool's shutdown waits for that.
    this.context.dispatcher.changed()
  }
}
