/**
 * The pool's data path: the bounded queue of jobs, the pump that hands jobs
 * to workers, and the rules for what happens to a task when its caller gives
 * up, its deadline passes, or its worker dies.
 *
 * A job is the unit of dispatch: one task, or a chunk of a `map`, sent to one
 * worker in one message. An item is one task inside a job, with its own id and
 * its own outcome. Every dispatched item is held by exactly one slot until the
 * worker replies or dies, so a dead worker fails (or retries) exactly its own
 * items and no others.
 *
 * Everything here is synchronous and allocation-light: it runs once per task
 * on the hot path. Effects appear only at the edges (callers suspending,
 * interruption waiting for the remote side to settle).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import type * as Balancer from "../../Balancer.ts"
import type { ExitStatus } from "../../ExitStatus.ts"
import type * as Task from "../../Task.ts"
import {
  PoolShuttingDown,
  QueueFull,
  type RestartIntensityExceeded,
  ShutdownError,
  TaskTimeout,
  WorkerCrashed
} from "../../TroupeError.ts"
import { describeValue } from "../options.ts"
import { replaySpans, type Trace } from "../telemetry.ts"
import type { Timer, TimeSource } from "../timeSource.ts"
import * as Codec from "../wire/codec.ts"
import type { Addressed, Run, SpanRecord } from "../wire/frame.ts"
import { Fifo } from "./fifo.ts"
import type { CallSettings } from "./poolOptions.ts"
import type { PoolTelemetry } from "./poolTelemetry.ts"
import type { Slot } from "./slot.ts"

/** One task inside a job. */
export interface Item {
  readonly id: number
  readonly task: Task.Any
  /** The frame sent to the worker (a retry gets a new one with its attempt number). */
  run: Run
  /** The decoded payload, for balancers that route by key. */
  readonly payload: unknown
  readonly retries: number
  readonly job: Job
  /** Runs of this item that a worker crash may have cut short (a requeued, never-started item does not count). */
  attempts: number
  /** The worker confirmed it started this item (only asked for items that may be retried). */
  started: boolean
  /**
   * Its current run is in `stats.started`: a run given back unstarted (taken
   * back for an idle worker, or held by a worker that died) and sent again is
   * still one run. A retry is a new run.
   */
  counted: boolean
  /** The item's run was handed to its worker's channel (false while it waits in the slot's outbox). */
  sent: boolean
  /** The caller has its outcome (or gave up); later replies only release the worker. */
  settled: boolean
  /** The caller gave up: never retried, never reported. */
  cancelled: boolean
  /** Its worker was asked to give it back unstarted (`Slot.withdraw`), and has not answered yet. */
  withdrawing: boolean
  slot: Slot | undefined
  readonly onDone: (exit: Exit.Exit<unknown, unknown>) => void
  /** Called when no worker holds the item any more. */
  onRelease: (() => void) | undefined
  /** The pool clock's monotonic milliseconds at submission and at the last dispatch to a worker. */
  readonly submittedAt: number
  dispatchedAt: number
}

/** The unit of dispatch; a balancer sees it as a `Balancer.Job`. */
export interface Job extends Balancer.Job {
  readonly items: Array<Item>
  readonly timeoutMs: number | undefined
  /** Whether a worker may hold it behind other jobs (`CallSettings.prefetch`). */
  readonly prefetch: boolean
  /** The caller's span, when the call is traced. */
  readonly trace?: Trace | undefined
  /** Items of this job a worker still holds. */
  held: number
  timer: Timer | undefined
}

/**
 * The jobs of a many-payload call waiting for room: `next` enqueues what fits and says whether all went in;
 * `rest` is what has not.
 */
interface Feed {
  readonly next: () => boolean
  readonly rest: () => ReadonlyArray<Job>
}

const isFeed = (waiting: Job | Feed): waiting is Feed => "next" in waiting

export interface DispatcherOptions {
  /** The pool's figures and events. */
  readonly telemetry: PoolTelemetry
  readonly queueSize: number
  /** Jobs a worker may hold: running plus prefetched. A job that may not be prefetched (`Job.prefetch`) only goes to a free running slot. */
  readonly concurrency: number
  readonly prefetch: number
  readonly balancer: Balancer.Balancer<any>
  /** The pool's size: its slots are made as they are first used, so `slots` may hold fewer. */
  readonly size: number
  /** How long an interrupted task may take to let go before its worker is replaced. */
  readonly interruptGraceMs: number
  /** Called when queued work finds no live worker, so the pool can start one. */
  readonly onDemand: () => void
}

let nextId = 1

const resolved = Promise.resolve()

/** One item of `job`: its run frame (asking the worker to confirm the start when the item may be retried). */
const makeItem = (
  task: Task.Any,
  module: string,
  payload: unknown,
  encoded: unknown,
  job: Job,
  retries: number,
  onDone: (exit: Exit.Exit<unknown, unknown>) => void,
  submittedAt: number
): Item => {
  const id = nextId++
  let run: Run =
    retries > 0
      ? { _tag: "Run", id, module, task: task.name, payload: encoded, confirm: true }
      : { _tag: "Run", id, module, task: task.name, payload: encoded }
  if (job.trace !== undefined) run = { ...run, trace: job.trace.context, attempt: 1 }
  return {
    id,
    task,
    run,
    payload,
    retries,
    job,
    attempts: 0,
    started: false,
    counted: false,
    sent: false,
    settled: false,
    cancelled: false,
    withdrawing: false,
    slot: undefined,
    onDone,
    onRelease: undefined,
    submittedAt,
    dispatchedAt: submittedAt
  }
}

/** A job of `items`, held by no worker yet: every job is made here, so every job has one shape. */
const newJob = (
  task: string,
  payload: unknown,
  items: Array<Item>,
  settings: { readonly timeoutMs: number | undefined; readonly prefetch: boolean },
  trace: Trace | undefined
): Job => ({
  task,
  payload,
  items,
  timeoutMs: settings.timeoutMs,
  prefetch: settings.prefetch,
  held: 0,
  timer: undefined,
  trace
})

/** Creates the items of one job submitted at `submittedAt`; `onDone` receives each item's outcome. */
const makeJob = (
  task: Task.Any,
  module: string,
  payloads: ReadonlyArray<{ readonly payload: unknown; readonly encoded: unknown }>,
  options: CallSettings,
  onDone: (index: number, exit: Exit.Exit<unknown, unknown>) => void,
  trace: Trace | undefined,
  submittedAt: number
): Job => {
  const items: Array<Item> = new Array(payloads.length)
  const job = newJob(task.name, payloads[0]?.payload, items, options, trace)
  for (let index = 0; index < payloads.length; index++) {
    const { encoded, payload } = payloads[index]!
    items[index] = makeItem(
      task,
      module,
      payload,
      encoded,
      job,
      options.retries,
      (exit) => onDone(index, exit),
      submittedAt
    )
  }
  return job
}

/**
 * The job of one task (`apply`, `offer`, a Promise caller) submitted at
 * `submittedAt`: `makeJob` without the arrays and the per-item closure a
 * chunk needs, since it runs once per call on the hot path.
 */
const makeSingleJob = (
  task: Task.Any,
  module: string,
  payload: unknown,
  encoded: unknown,
  options: CallSettings,
  onDone: (exit: Exit.Exit<unknown, unknown>) => void,
  trace: Trace | undefined,
  submittedAt: number
): Job => {
  // Sized for its one item (an empty array's first `push` reserves room for 17): a job lives until its reply.
  const items: Array<Item> = new Array(1)
  const job = newJob(task.name, payload, items, options, trace)
  items[0] = makeItem(task, module, payload, encoded, job, options.retries, onDone, submittedAt)
  return job
}

/** What cancels a submitted item, for its caller: made apart from `submitOne` so that it holds only the two. */
const cancelOf =
  (dispatcher: Dispatcher, item: Item): (() => Effect.Effect<void>) =>
  () =>
    item.settled ? Effect.void : dispatcher.cancel(item)

export class Dispatcher {
  readonly queue: Array<Job> = []
  readonly slots: Array<Slot> = []
  /**
   * Callers waiting for room in the queue, oldest first: the job of a single
   * call itself (no closure per waiting call: 20,000 calls at once leave
   * 19,000 here), or the feed of a call of many jobs, which returns `true`
   * once it has nothing left to enqueue.
   */
  private readonly admissions = new Fifo<Job | Feed>()
  /** The end of the wait of each timed `offer` waiting in `admissions`. */
  private readonly admissionTimers = new Map<Job, Timer>()
  private pumping = false
  /** Items asked back from their workers (`rebalance`) that have not come back yet. */
  private withdrawals = 0
  /** The job limit a balancer sees for the job being placed. */
  limit = 1
  /** The module of the job being placed: workers started from a bundle serve only their own modules. */
  module = ""
  /**
   * A worker holding more jobs than this takes more only into a message
   * already going out (see `Slot.capacity`): its concurrency plus half its
   * prefetch, so a busy worker is topped up in one message per half window
   * and still holds half a window of work while the next one travels.
   */
  readonly refillAt: number
  private closed = false
  /** The close drops work no worker has started (`drain: "inFlight"`, or a close by interruption). */
  private dropsUnstarted = false
  /** The close stops the workers (its deadline passed, or it was interrupted): what they hold fails with them. */
  private stopping = false
  private brokenBy: RestartIntensityExceeded | undefined = undefined
  /** Opened at every change a waiter may be waiting for (see `until`); made by the first waiter. */
  private changes: Latch.Latch | undefined = undefined

  readonly options: DispatcherOptions
  readonly telemetry: PoolTelemetry
  /** The pool's time: submission and dispatch times, deadlines, the `at` of events. */
  readonly clock: TimeSource

  constructor(options: DispatcherOptions) {
    this.options = options
    this.telemetry = options.telemetry
    this.clock = options.telemetry.clock
    this.refillAt = options.concurrency + Math.ceil(options.prefetch / 2)
  }

  /**
   * One call's entry into the pool (`apply`, `offer`, a Promise caller): its
   * job is queued (or waits for room) and `done` gets its exit once,
   * synchronously when the pool refuses it. `admissionMs`: how long the call
   * may wait for room in a full queue (`undefined`: as long as it takes).
   * Returns what cancels the call, for a caller that gives up (`undefined`
   * once refused). No fiber, no timer and no closure but the cancel in the
   * common case: room in the queue and nobody waiting for it. `module`: the
   * task's module (the caller has read it).
   */
  submitOne(
    task: Task.Any,
    module: string,
    payload: unknown,
    encoded: unknown,
    settings: CallSettings,
    admissionMs: number | undefined,
    trace: Trace | undefined,
    done: (exit: Exit.Exit<unknown, unknown>) => void
  ): (() => Effect.Effect<void>) | undefined {
    if (this.brokenBy !== undefined || this.closed) return void done(Exit.fail(this.refusal()!))
    if (admissionMs === 0 && this.queueFull) return void done(Exit.fail(this.queueFullError()))
    this.telemetry.submitted++
    const job = makeSingleJob(task, module, payload, encoded, settings, done, trace, this.clock.monotonicMillis())
    // The common case: room in the queue and no caller waiting before this one. Nothing to admit later, no timer.
    if (this.admissions.length === 0 && this.queue.length < this.options.queueSize) {
      this.queue.push(job)
      this.pump()
      return cancelOf(this, job.items[0]!)
    }
    return this.admitLater(job, admissionMs, done)
  }

  /**
   * A call that found no room, or callers waiting before it: its job waits
   * behind them, at most `admissionMs` (nothing went in, so there is nothing
   * to pump). A call that waits as long as it takes (`apply`, a Promise
   * caller) is cancelled as a queued one is (`cancel` takes its job out of
   * the line).
   */
  private admitLater(
    job: Job,
    admissionMs: number | undefined,
    done: (exit: Exit.Exit<unknown, unknown>) => void
  ): () => Effect.Effect<void> {
    const item = job.items[0]!
    this.admissions.push(job)
    if (admissionMs === undefined) return cancelOf(this, item)
    // An offer that found no room waits at most `admissionMs` for it. Its admission stops the timer
    // (`admitWaiting`), which would otherwise hold the job for the whole wait. A background timer: the offer's
    // caller waits for it, and a caller that stops waiting does not need it.
    const admissionTimer = this.clock.after(
      admissionMs,
      () => {
        this.admissionTimers.delete(job)
        if (this.withdraw(job)) done(Exit.fail(this.queueFullError()))
      },
      true
    )
    this.admissionTimers.set(job, admissionTimer)
    return () => {
      this.stopAdmissionTimer(job)
      return item.settled ? Effect.void : this.cancel(item)
    }
  }

  /** A timed offer's job got in, or its caller gave up: the end of its wait is nothing to wait for. */
  private stopAdmissionTimer(job: Job): void {
    const timer = this.admissionTimers.get(job)
    if (timer === undefined) return
    this.admissionTimers.delete(job)
    this.clock.cancel(timer)
  }

  /**
   * A call of many payloads (`map` and the like), in jobs of `chunkSize`,
   * queued as room appears, after every caller that waited before. `onItem`
   * gets each item's exit with its index, and what cancels the rest of the
   * call (for a call that fails fast). Returns the failed exit, if the pool
   * refuses the call, else what cancels what is left of it.
   */
  submitMany(
    task: Task.Any,
    module: string,
    payloads: ReadonlyArray<{ readonly payload: unknown; readonly encoded: unknown }>,
    chunkSize: number,
    settings: CallSettings,
    trace: Trace | undefined,
    onItem: (index: number, exit: Exit.Exit<unknown, unknown>, cancelRest: Effect.Effect<void>) => void
  ): Exit.Exit<never, PoolShuttingDown | RestartIntensityExceeded> | Effect.Effect<void> {
    const refusal = this.refusal()
    if (refusal !== undefined) return Exit.fail(refusal)
    this.telemetry.submitted += payloads.length
    const jobs: Array<Job> = []
    let cursor = 0
    const feed: Feed = {
      next: () => {
        while (cursor < jobs.length && !this.queueFull) this.queue.push(jobs[cursor++]!)
        return cursor === jobs.length
      },
      rest: () => jobs.slice(cursor)
    }
    // Lazy: every settled item holds it, and only the call's end (or its failure) runs it.
    const cancelRest = Effect.suspend(() => {
      this.withdraw(feed)
      // Last item first: a worker starts the next run it holds when the one running lets go, so the runs it holds
      // behind it must be interrupted before it is.
      return Effect.forEach(
        jobs
          .flatMap((job) => job.items)
          .filter((item) => !item.settled)
          .reverse(),
        (item) => this.cancel(item),
        { concurrency: "unbounded", discard: true }
      )
    })
    const submittedAt = this.clock.monotonicMillis()
    for (let start = 0; start < payloads.length; start += chunkSize) {
      const offset = start
      const chunk = payloads.slice(start, start + chunkSize)
      const onDone = (index: number, exit: Exit.Exit<unknown, unknown>) => onItem(offset + index, exit, cancelRest)
      jobs.push(makeJob(task, module, chunk, settings, onDone, trace, submittedAt))
    }
    this.admit(feed)
    this.pump()
    return cancelRest
  }

  /** Why the pool gave up, once it has: it then refuses every call. */
  get broken(): RestartIntensityExceeded | undefined {
    return this.brokenBy
  }

  /** The pool gives up: every later call is refused with `error`, and every queued or held item fails with it. */
  giveUp(error: RestartIntensityExceeded): void {
    this.brokenBy = error
    this.failQueued(() => error)
    for (const slot of this.slots) for (const item of [...slot.held.values()]) this.settle(item, Exit.fail(error))
  }

  /** Whether the pool is closing: it takes no new calls, and drains or fails what it has. */
  get closing(): boolean {
    return this.closed
  }

  /** The pool starts closing: every later call is refused with `PoolShuttingDown`. */
  close(): void {
    this.closed = true
    this.changed()
  }

  /**
   * The close drops work no worker has started: the queue, and the runs the
   * workers hold prefetched, which are asked back (`Slot.withdraw`) and fail
   * as queued when they come back (`withdrawn`). A run that started answers as usual.
   */
  dropUnstarted(): void {
    this.dropsUnstarted = true
    this.failQueued((item) => this.endedByClose(item, false))
    for (const slot of this.slots) {
      for (const item of slot.withdrawables(this.options.concurrency)) {
        item.withdrawing = true
        this.withdrawals++
        slot.withdraw(item)
      }
    }
  }

  /**
   * The close stops the workers: what is still queued fails, and the tasks of a worker that dies from now on fail
   * with it, none goes back to the queue.
   */
  stop(): void {
    this.stopping = true
    this.failQueued((item) => this.endedByClose(item, false))
  }

  /**
   * Something a waiter may be waiting for changed: an item left the queue or
   * its worker, a worker started or stopped starting, a worker was reaped.
   * One field read when nobody waits (the hot path).
   */
  changed(): void {
    if (this.changes !== undefined) this.changes.openUnsafe()
  }

  /**
   * Waits until `done()` holds, checking it again at every `changed`: the
   * pool's shutdown and `ready` wait for events, not by polling.
   */
  until(done: () => boolean): Effect.Effect<void> {
    const check: Effect.Effect<void> = Effect.suspend(() => {
      if (done()) return Effect.void
      this.changes ??= Latch.makeUnsafe(false)
      const changes = this.changes
      changes.closeUnsafe()
      return Effect.andThen(changes.await, check)
    })
    return check
  }

  /** Fails fast when the pool takes no work. */
  refusal(): PoolShuttingDown | RestartIntensityExceeded | undefined {
    return this.brokenBy ?? (this.closed ? new PoolShuttingDown() : undefined)
  }

  get queueFull(): boolean {
    return this.queue.length >= this.options.queueSize
  }

  /** Enqueues jobs as room appears, in order, after every caller that waited before. */
  private admit(feed: Feed): void {
    if (this.admissions.length === 0 && feed.next()) return
    this.admissions.push(feed)
  }

  /** Forgets an admission that has not finished (its caller gave up); `false` when it was not waiting any more. */
  private withdraw(waiting: Job | Feed): boolean {
    return this.admissions.remove((entry) => entry === waiting) !== undefined
  }

  /** Callers waiting for room enqueue their jobs, oldest first, while there is room. */
  private admitWaiting(): void {
    const admissions = this.admissions
    const queue = this.queue
    const queueSize = this.options.queueSize
    while (admissions.length > 0 && queue.length < queueSize) {
      const waiting = admissions.peek()!
      if (!isFeed(waiting)) {
        // Only offers have a wait of their own: a burst of calls past the queue's size has none to look up.
        if (this.admissionTimers.size > 0) this.stopAdmissionTimer(waiting)
        queue.push(waiting)
      } else if (!waiting.next()) return
      admissions.shift()
    }
  }

  /**
   * Hands queued jobs to workers with room, batching the jobs that go to one
   * worker into one message. `now`: the pool clock's reading, when the caller
   * has just taken one (a reply's frame); else it is read at the first
   * placement, once for the whole pump.
   */
  pump(now?: number): void {
    if (this.pumping) return
    this.pumping = true
    try {
      const { balancer, concurrency, prefetch } = this.options
      let placed = false
      for (;;) {
        // A keyed balancer may look past jobs waiting for their own busy worker (a bounded distance).
        const lookAhead = balancer.keyed === true ? 64 : 0
        let position = 0
        while (position < this.queue.length && position <= lookAhead) {
          const job = this.queue[position]!
          // Prefetch only when more jobs wait than every worker can run at once: a batch then saves round
          // trips, while a shallow queue waits here for the first free worker instead of behind a long task.
          const deep = this.queue.length > this.options.size * concurrency
          this.limit = deep && job.prefetch ? concurrency + prefetch : concurrency
          this.module = job.items[0]!.run.module
          const index = this.pick(job)
          if (index === undefined) {
            position++
            continue
          }
          // The front job almost always: `shift` moves the array's start instead of copying the rest down.
          if (position === 0) this.queue.shift()
          else this.queue.splice(position, 1)
          if (typeof index !== "number") {
            for (const item of job.items) this.settle(item, Exit.die(index.defect))
            continue
          }
          now ??= this.clock.monotonicMillis()
          this.place(job, this.slots[index]!, now)
          placed = true
        }
        const queued = this.queue.length
        if (this.admissions.length > 0) this.admitWaiting()
        if (queued > 0 || this.queue.length === queued) break
      }
      if (placed) this.scheduleFlush()
      if (this.queue.length > 0) this.options.onDemand()
      else if (prefetch > 0 && balancer.keyed !== true && !this.closing) this.rebalance()
    } finally {
      this.pumping = false
    }
  }

  /**
   * The balancer's choice for `job`: the index of a worker with room, or
   * `undefined` when the job waits. A balancer written by the pool's user can
   * be wrong (its `pick` throws, or returns something else, such as an index
   * past the workers or a worker without room): that job then fails with
   * the error as a defect, and the pool serves on, instead of the error
   * stopping the pump with the job left queued for ever.
   */
  private pick(job: Job): number | undefined | { readonly defect: unknown } {
    const balancer = this.options.balancer
    let index: unknown
    try {
      index = balancer.pick(this.slots, job)
    } catch (defect) {
      return { defect }
    }
    if (index === undefined) return undefined
    const slot = Number.isInteger(index) ? this.slots[index as number] : undefined
    if (slot?.available && slot.inFlight < slot.capacity) return index as number
    return {
      defect: new Error(
        `the balancer ${JSON.stringify(balancer.name)} picked ${describeValue(index)}, not the index of a worker with room (Balancer.hasRoom)`
      )
    }
  }

  /**
   * Nothing is queued and a worker has room: it takes over runs that another
   * worker holds prefetched and has not started. Each is asked back from its
   * worker (`Slot.withdraw`, newest first) and comes back through the queue
   * (`withdrawn`). So a prefetched run never stays behind a long task while a
   * worker is free, nor behind a task that waits for it (a task waiting,
   * through an `IpcQueue` or any other way, for tasks of its own pool).
   */
  private rebalance(): void {
    const { concurrency } = this.options
    // Only a worker holding more than `concurrency` jobs holds runs that wait. The common case, after each pump
    // that empties the queue: none does, and nothing more is read.
    let prefetched = false
    for (const slot of this.slots) if (slot.inFlight > concurrency) prefetched = true
    if (!prefetched) return
    let room = -this.withdrawals
    for (const slot of this.slots) if (slot.state === "ready") room += Math.max(0, concurrency - slot.inFlight)
    while (room > 0) {
      let donor: Slot | undefined
      let item: Item | undefined
      for (const slot of this.slots) {
        if (donor !== undefined && slot.held.size <= donor.held.size) continue
        const candidate = slot.withdrawable(concurrency)
        if (candidate === undefined) continue
        donor = slot
        item = candidate
      }
      if (donor === undefined || item === undefined) return
      item.withdrawing = true
      this.withdrawals++
      donor.withdraw(item)
      room--
    }
  }

  /**
   * A worker gave `item` back unstarted (its slot let go of it): it goes back
   * to the front of the queue, or fails as queued when the close drops such work.
   */
  withdrawn(item: Item, jobDone: boolean): void {
    this.released(item, jobDone)
    if (item.settled || item.cancelled) return
    if (this.dropsUnstarted || this.stopping) this.settle(item, Exit.fail(this.endedByClose(item, false)))
    else this.queue.unshift(this.requeueable(item))
  }

  /** The error of an item the close ends: `running` when it may have run, else `queued` (it never started). */
  private endedByClose(item: Item, mayHaveRun: boolean): ShutdownError {
    return new ShutdownError({ task: item.task.name, phase: mayHaveRun ? "running" : "queued" })
  }

  /** Hands `job` to `slot` at `now`: stamps its dispatch (the wait it had, for the figures), starts its deadline. */
  private place(job: Job, slot: Slot, now: number): void {
    const telemetry = this.telemetry
    const items = job.items
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      item.dispatchedAt = now
      telemetry.waitMs.update(now - item.submittedAt)
      if (!item.counted) {
        item.counted = true
        telemetry.started++
      }
    }
    if (job.timeoutMs !== undefined) this.startTimer(job, job.timeoutMs)
    slot.hold(job)
  }

  private flushScheduled = false

  /**
   * Sends what the pumps of this tick placed at the end of the tick (a
   * microtask): callers that submit one by one in the same tick (many fibers
   * resumed together) share one message per worker instead of one each.
   */
  scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    // A resolved promise's `then` rather than `queueMicrotask`, which Node wraps in an async resource per call.
    resolved.then(this.flushAll)
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false
    const slots = this.slots
    for (let i = 0; i < slots.length; i++) slots[i]!.flush()
  }

  /** Starts a job's deadline (`timeoutMs`, the job's), unless it runs already. */
  private startTimer(job: Job, timeoutMs: number): void {
    if (job.timer !== undefined) return
    job.timer = this.clock.after(timeoutMs, () => this.expire(job))
  }

  private expire(job: Job): void {
    for (const item of job.items) {
      if (item.settled) continue
      this.settle(item, Exit.fail(new TaskTimeout({ task: item.task.name, timeoutMs: job.timeoutMs! })))
      if (item.slot !== undefined) item.slot.interrupt(item, this.options.interruptGraceMs)
    }
  }

  /** Delivers an item's outcome to its caller, once. */
  settle(item: Item, exit: Exit.Exit<unknown, unknown>): void {
    if (item.settled) return
    item.settled = true
    if (item.cancelled) return
    // A success only counts (the hot path); a failure is tallied by its error's tag.
    if (exit._tag === "Success") this.telemetry.succeeded++
    else this.telemetry.failedWith(exit)
    try {
      item.onDone(exit)
    } catch (error) {
      // A caller's own callback threw (`Pool.runCallback`'s `onExit`): the rest of the frame it came in still
      // settles, and the error is thrown again afterwards, uncaught, as a throwing event listener's is.
      queueMicrotask(() => {
        throw error
      })
    }
  }

  /**
   * A worker (in slot `worker`) replied for an item its slot has let go of
   * (`jobDone` as in `released`), in a frame that arrived at `now`.
   */
  replied(
    item: Item,
    jobDone: boolean,
    worker: number,
    reply: Addressed["reply"],
    spans: ReadonlyArray<SpanRecord> | undefined,
    now: number
  ): void {
    this.telemetry.runMs.update(now - item.dispatchedAt)
    if (spans !== undefined && item.job.trace !== undefined) {
      replaySpans(item.job.trace, spans, { "troupe.worker": worker })
    }
    this.released(item, jobDone)
    this.settle(item, Codec.decodeReply(item.task, item.run, reply))
  }

  /**
   * No worker holds `item` any more (its slot let go of it: see
   * `Slot.letGo`); `jobDone`: nor any other item of its job, whose deadline
   * then stops. A caller that gave up on the item stops waiting.
   */
  released(item: Item, jobDone: boolean): void {
    if (item.withdrawing) {
      item.withdrawing = false
      this.withdrawals--
    }
    const job = item.job
    if (jobDone && job.timer !== undefined) {
      this.clock.cancel(job.timer)
      job.timer = undefined
    }
    const onRelease = item.onRelease
    item.onRelease = undefined
    onRelease?.()
    this.changed()
  }

  /**
   * A worker died holding `items` (in the order they were sent; its slot has
   * let go of them, `Slot.letGo`, and `jobsDone` are the jobs no worker
   * holds any more). Those that
   * may have been running (see `mayHaveRun`) are retried if they have retries
   * left (at the back of the queue), else fail with `WorkerCrashed`. The rest
   * never started and go back to the front of the queue as they were, without
   * using up an attempt. `reason`: why the pool killed the worker, when it
   * broke the protocol.
   */
  died(items: ReadonlyArray<Item>, pid: number, status: ExitStatus, reason?: string): void {
    const requeue: Array<Job> = []
    const requeued = new Set<Job>()
    const retries: Array<Job> = []
    const { concurrency } = this.options
    items.forEach((item, position) => {
      this.released(item, item.job.held === 0)
      if (item.settled || item.cancelled) return
      // A retriable item says when it starts, so only a run that really began is counted. Any other item is
      // counted when it was among the oldest `concurrency` the worker held: it may have been running (a worker
      // writes every reply to its channel before it starts another run, so no older item was waiting on it).
      // An item the worker was never sent (still in the outbox when its channel closed) did not run.
      const mayHaveRun = item.retries > 0 ? item.started : item.sent && position < concurrency
      // Stopped at the shutdown deadline (a thread's `terminate()` lets out no reply for what it never started):
      // only what may have run was running.
      if (this.stopping || this.broken !== undefined) {
        this.settle(item, Exit.fail(this.broken ?? this.endedByClose(item, mayHaveRun)))
        return
      }
      // While the pool drains, what may have run fails without a retry; what never started is drained as queued work.
      if (this.closing && (mayHaveRun || this.dropsUnstarted)) {
        this.settle(item, Exit.fail(this.endedByClose(item, mayHaveRun)))
        return
      }
      item.started = false
      if (mayHaveRun) {
        item.attempts++
        item.counted = false
      }
      if (mayHaveRun && item.attempts > item.retries) {
        this.settle(
          item,
          Exit.fail(
            new WorkerCrashed({
              task: item.task.name,
              taskId: item.id,
              pid,
              exitCode: status.code,
              signal: status.signal,
              attempts: item.attempts,
              ...(reason === undefined ? {} : { reason })
            })
          )
        )
        return
      }
      const single = this.requeueable(item)
      if (mayHaveRun) {
        // The retry carries its attempt number: for its span, and for `Process.current` in the handler.
        item.run = { ...item.run, attempt: item.attempts + 1 }
        this.telemetry.retried++
        this.telemetry.publish({
          _tag: "TaskRetried",
          task: item.task.name,
          taskId: item.id,
          attempt: item.attempts + 1,
          pid,
          at: this.clock.wallMillis()
        })
        // A retry goes to the back: the front feeds the fresh replacement first, and a task that just lost
        // a worker should not always be the first task of the next one.
        retries.push(single)
      } else if (!requeued.has(single)) {
        requeued.add(single)
        requeue.push(single)
      }
    })
    if (requeue.length > 0) this.queue.unshift(...requeue)
    if (retries.length > 0) this.queue.push(...retries)
    this.pump()
  }

  /** The job to put back for an item: its own job when every unsettled item comes back together, else a job of one. */
  private requeueable(item: Item): Job {
    const job = item.job
    if (job.items.length === 1) return job
    const solo = newJob(job.task, item.payload, [item], job, job.trace)
    ;(item as { job: Job }).job = solo
    return solo
  }

  /**
   * The caller gave up on an item. A queued item is removed at once; a
   * dispatched one is interrupted in its worker, and the returned effect
   * completes only once no worker holds it (the worker let go, or was
   * replaced after the grace period).
   */
  cancel(item: Item): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      item.cancelled = true
      item.settled = true
      if (item.slot === undefined) {
        this.unqueue(item)
        return resume(Effect.void)
      }
      item.onRelease = () => resume(Effect.void)
      item.slot.interrupt(item, this.options.interruptGraceMs)
    })
  }

  /** Takes a cancelled item's job out of the queue, or out of the line for it, once none of its items is wanted. */
  private unqueue(item: Item): void {
    const job = item.job
    if (job.items.some((other) => !other.cancelled)) return
    const index = this.queue.indexOf(job)
    if (index >= 0) this.queue.splice(index, 1)
    else this.withdraw(job)
    this.admitWaiting()
    this.changed()
  }

  /**
   * Fails every queued job with `error` (the pool broke, or is closing and drops queued work), and the jobs of
   * callers still waiting for room: admitted now, they would wait in a queue nothing serves any more.
   */
  failQueued(error: (item: Item) => unknown): void {
    const jobs = this.queue.splice(0)
    for (let waiting = this.admissions.shift(); waiting !== undefined; waiting = this.admissions.shift()) {
      if (isFeed(waiting)) jobs.push(...waiting.rest())
      else {
        this.stopAdmissionTimer(waiting)
        jobs.push(waiting)
      }
    }
    for (const job of jobs) for (const item of job.items) this.settle(item, Exit.fail(error(item)))
    this.changed()
  }

  /** Fails the queued jobs of `module`'s tasks with `error` (no worker will serve them). */
  failQueuedOf(module: string, error: (item: Item) => unknown): void {
    const queue = this.queue
    for (let index = queue.length - 1; index >= 0; index--) {
      const job = queue[index]!
      if (job.items[0]!.run.module !== module) continue
      queue.splice(index, 1)
      for (const item of job.items) this.settle(item, Exit.fail(error(item)))
    }
    this.admitWaiting()
    this.changed()
  }

  /** Items waiting or held anywhere: the pool is drained when this is 0. */
  get pending(): number {
    let count = this.queue.length
    for (const slot of this.slots) count += slot.held.size
    return count
  }

  queueFullError(): QueueFull {
    return new QueueFull({ capacity: this.options.queueSize })
  }
}
