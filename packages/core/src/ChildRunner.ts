/**
 * What a child does with the frames its parent sends: the platform-neutral
 * half of a Troupe child.
 *
 * A platform (forked process, worker thread) wires its message channel to
 * `make`: every frame from the parent goes to `onMessage`; replies go out
 * through the port. The runner imports the module named in a `Run` frame (so
 * its top-level `Task.make` calls register the tasks), finds the task by name,
 * runs it and replies. A module that cannot be imported, or a missing task, is
 * a `SpawnFailed` reply, never a task failure.
 *
 * Runs start in the order they arrive, at most `concurrency` at a time; the
 * rest wait in the child. Every reply is sent before the next run starts, and
 * the next run waits until the channel has taken it (`internal/replyBatcher`):
 * whatever kills the child, even `SIGKILL`, only the runs that were running
 * may have run. A reply the channel cannot take fails only its own run
 * (`EncodeFailed`), and no send failure stops the child.
 *
 * A SIGTERM (`ChildPort.onTerminate`) stops the child gracefully: the runs
 * waiting are dropped (they never ran), the running ones are interrupted as
 * an `Interrupt` frame would (their finalizers run), the actors it hosts are
 * stopped; once the replies are out, a task child ends by the signal, as it
 * would have at once, and an actor host exits with code 0. It first tells
 * its parent (`Terminating`), which then reads an `Interrupted` reply as the
 * signal's doing rather than as the run's outcome.
 *
 * The same child can host actors (`Actors` frames, served by the internal
 * actor server), and it forwards every `Effect.log` line of its runs and
 * handlers to the parent's logger (`Logs` frames). A run sent with the
 * caller's trace context records its spans and returns them with its reply.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as ActorServer from "./internal/actor/actorServer.ts"
import * as ChildTelemetry from "./internal/child/childTelemetry.ts"
import * as ModuleLoader from "./internal/child/moduleLoader.ts"
import * as ProcessContext from "./internal/child/processContext.ts"
import * as ReplyBatcher from "./internal/child/replyBatcher.ts"
import { sendSafely } from "./internal/child/replyBatcher.ts"
import { Fifo } from "./internal/pool/fifo.ts"
import * as Codec from "./internal/wire/codec.ts"
import * as Contract from "./internal/wire/contract.ts"
import { type ChildMessage, decodeParentFrame, type Reply, type Run, type SpanRecord } from "./internal/wire/frame.ts"
import * as ParentLink from "./internal/wire/parentLink.ts"
import * as Task from "./Task.ts"

/**
 * How a child serves its parent, chosen by the parent at spawn time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Serve a single run, then exit: 0 when the task succeeded, 1 otherwise (the `Process` API). */
  readonly once: boolean
  /** How many runs may execute at once in this child. */
  readonly concurrency: number
  /** Attach the child's resident set size to each batch of replies. */
  readonly reportRss: boolean
  /**
   * Modules to import before the child reports ready, so that a fresh worker
   * is warm: its first task does not pay for loading its module.
   */
  readonly preload: ReadonlyArray<string>
  /**
   * The `preload` modules were bundled with the runner and have already run:
   * they count as loaded. A platform sets this when it starts the child from
   * a bundle; such a child can serve only the tasks of those modules.
   */
  readonly bundled: boolean
  /** Replace a reply whose encoded value is over this many UTF-8 bytes by a `TooLarge` reply. */
  readonly maxPayloadBytes?: number | undefined
  /**
   * The most the parent takes from this child in one frame, in bytes (a
   * forked child's `Transport.SpawnOptions.maxFrameBytes`; a platform sets it
   * when its parent checks frames). A reply whose frame would be over it is
   * replaced by a `TooLarge` reply, so that only its own run fails, and
   * replies that would not fit together go one frame each. `undefined`: no
   * bound.
   */
  readonly maxFrameBytes?: number | undefined
  /**
   * How long importing one module may take (a top-level `await` that never
   * settles); past it, the module's runs fail with a `SpawnFailed` reply of
   * reason `ModuleLoadTimeout`, and preloading stops waiting for it.
   * `undefined`: no bound.
   */
  readonly moduleLoadTimeoutMs?: number | undefined
  /**
   * Who the child is, for `Process.current`: its name and, for a pool
   * worker, its pool and index. Without it the child is named after its pid.
   */
  readonly identity?:
    | { readonly name: string; readonly pool?: string | undefined; readonly worker?: number | undefined }
    | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const defaultOptions: Options = { once: false, concurrency: 1, reportRss: false, preload: [], bundled: false }

/**
 * The channel back to the parent, provided by the platform.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildPort {
  /** Sends a frame; the promise settles once the platform has written it. */
  readonly send: (frame: ChildMessage) => Promise<void>
  /**
   * Sends a frame synchronously, for a channel that takes every frame as it
   * is handed over (a worker thread's `postMessage`); throws when it cannot
   * take it. When present, the runner sends its replies through it, and the
   * next run starts without waiting for a promise. The frame must be copied
   * (or written) before it returns: the runner reuses its arrays afterwards.
   */
  readonly sendNow?: ((frame: ChildMessage) => void) | undefined
  /** Called once a `once` runner has replied, with the exit code to use. */
  readonly done: (exitCode: number) => void
  /** Runs `f` after the events already queued (Node's `setImmediate`), to batch replies. */
  readonly defer: (f: () => void) => void
  /** The resident set size of this child, in bytes. */
  readonly rss: () => number
  /** Rewrites a stack trace before it is sent (a bundled child maps it back to the original files). */
  readonly mapStack?: ((stack: string) => string) | undefined
  /** The child's pid (a worker thread's id), for span attributes and `Process.current`. */
  readonly pid?: number | undefined
  /** The pid of the child's parent, for `Process.current` (a worker thread: its process's). */
  readonly parentPid?: number | undefined
  /**
   * Installs the child's graceful-stop handler (Node: on SIGTERM), once, as
   * the runner is made. The platform calls `stop` on the first signal (a
   * later one changes nothing). When its promise settles the child ends:
   * with code 0 on `"exit"` (it stopped the actors it hosted), or on
   * `"signal"` by the same signal, as a child without a handler would have
   * at once (Node: the handler removes itself and raises the signal again).
   */
  readonly onTerminate?: ((stop: () => Promise<Ending>) => void) | undefined
  /**
   * Whether this child shares memory with its parent (a worker thread): its
   * replies may then hold `SharedMemory` values. Absent means no (a process).
   */
  readonly sharesMemory?: boolean | undefined
}

/**
 * How a child ends after a graceful stop (`ChildPort.onTerminate`): with
 * code 0 (`"exit"`, a child that hosted actors and stopped them), or by the
 * signal that stopped it (`"signal"`).
 *
 * @since 0.1.0
 * @category models
 */
export type Ending = "exit" | "signal"

/**
 * A running child's message handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildRunner {
  readonly onMessage: (message: unknown) => void
  /** Imports the `preload` modules; the platform reports ready once it settles. A module that fails to load is reported when a task needs it. */
  readonly warmUp: Promise<void>
  /**
   * Sends the replies not sent yet (those of concurrent runs that finished in
   * this turn of the event loop). The platform calls it as the child exits
   * (Node: the `exit` event), and must write synchronously there.
   */
  readonly lastWords: () => void
}

const interrupted: Reply = { _tag: "Interrupted" }
const withdrawn: Reply = { _tag: "Withdrawn" }

/** A run that is loading its module, or executing, or was interrupted while loading. */
type Running = Fiber.Fiber<Reply> | "loading" | "interrupted"

/**
 * The `ArrayBuffer`s a child that shares memory with its parent (a worker
 * thread) moves with a frame it sends: those of the replies encoded by
 * `SharedMemory.Transferred` in it. The platform passes them to
 * `postMessage`; empty, at no cost, until such a reply was encoded.
 *
 * @example
 * ```ts
 * import { ChildRunner } from "@troupe/core"
 *
 * declare const parentPort: { postMessage(frame: unknown, transfer: ReadonlyArray<ArrayBuffer>): void }
 * const send = (frame: unknown) => parentPort.postMessage(frame, ChildRunner.transferList(frame))
 * ```
 *
 * @since 0.1.0
 * @category platform
 */
export const transferList: (frame: unknown) => ReadonlyArray<ArrayBuffer> = Contract.transferList

/**
 * Creates the runner for one child.
 *
 * @example
 * ```ts
 * import { ChildRunner } from "@troupe/core"
 *
 * declare const send: (frame: unknown) => Promise<void>
 * const runner = ChildRunner.make({
 *   send,
 *   done: (code) => process.exit(code),
 *   defer: setImmediate,
 *   rss: () => process.memoryUsage.rss()
 * }, ChildRunner.defaultOptions)
 * process.on("message", runner.onMessage)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (port: ChildPort, options: Options): ChildRunner => {
  Codec.setChildSharesMemory(port.sharesMemory === true)
  const loader = ModuleLoader.make({ timeoutMs: options.moduleLoadTimeoutMs })
  // Code running here (tasks, actors) calls the parent's services through this port.
  ParentLink.install(port.send, options)
  let actors: ActorServer.ActorServer | undefined
  const queue = new Fifo<Run>()
  const running = new Map<number, Running>()
  // The module of each task, from the first run of the task that named it (later runs leave it out).
  const moduleOfTask = new Map<string, string>()
  let flushScheduled = false
  /** Replies handed to the channel and not yet taken: no run starts until they are. */
  let sending: Promise<void> | undefined
  let closing = false
  /** Set by a SIGTERM (`terminate`): no run starts any more; called once the runs it interrupted have replied. */
  let stopped: (() => void) | undefined
  const spans = new Map<number, Array<SpanRecord>>()
  /** The run whose fiber is taking its first, synchronous steps (it is not in `running` yet). */
  let starting: number | undefined
  /** The attempt number of each running run that is a retry (a run without one is a first attempt). */
  const retries = new Map<number, number>()
  /**
   * Set while the frames received together are read: no run starts until all of them are, so a run whose
   * `Interrupt` came with it (or with its `Run`) never starts. The frames of one read reach `onMessage` before
   * the microtasks queued meanwhile run (a process: they are emitted as one series of ticks; a thread: its
   * platform hands over the port's whole queue at once).
   */
  let reading = false

  // The child's bootstrapping phase (its module imports) ends with the first frame that runs its code.
  let bootstrapping = true
  const endBootstrap = () => {
    bootstrapping = false
    ProcessContext.bootstrapped()
  }

  const identity = options.identity
  ProcessContext.serve(
    {
      name: identity?.name ?? `child-${port.pid ?? 0}`,
      pid: port.pid ?? 0,
      parentPid: port.parentPid,
      pool:
        identity?.pool === undefined || identity.worker === undefined
          ? undefined
          : { name: identity.pool, worker: identity.worker }
    },
    // Read only when a task asks for `Process.current`: a scan of the runs in flight (at most `concurrency`).
    (fiber) => {
      for (const [id, run] of running) if (run === fiber) return id
      return starting
    },
    (id) => retries.get(id) ?? 1
  )

  // Log lines go to the parent's logger as they are written, so they precede the replies of the runs that wrote
  // them, and a task that logs and then exits the process does not lose its last words.
  // A line the channel cannot take (an annotation that cannot be serialized) goes again without its annotations.
  const logger = ChildTelemetry.forwardingLogger((record) => {
    void sendSafely(port.send, { _tag: "Logs", entries: [record] }).then((why) =>
      why === undefined ? undefined : sendSafely(port.send, { _tag: "Logs", entries: [{ ...record, annotations: {} }] })
    )
  })

  // A SIGTERM that came after `Close` decides how the child ends (`stoppedIfDone`).
  const exitIfClosed = () => {
    if (
      closing &&
      stopped === undefined &&
      running.size === 0 &&
      queue.length === 0 &&
      !flushScheduled &&
      sending === undefined
    )
      port.done(0)
  }

  /** A terminating child is done once its runs have all replied and the channel has taken their replies. */
  const stoppedIfDone = () => {
    if (stopped !== undefined && running.size === 0 && !flushScheduled && sending === undefined) stopped()
  }

  // The resident set size goes with every batch of replies when the pool checks a memory limit, else once a second.
  let rssReportedAt = 0
  const rss = (): number | undefined => {
    if (!options.reportRss) {
      const now = Date.now()
      if (now - rssReportedAt < 1000) return undefined
      rssReportedAt = now
    }
    return port.rss()
  }

  // A reply the channel refuses even as `EncodeFailed` would leave its caller waiting: the child ends instead, and
  // the parent settles what it held as for any crash.
  const replies = ReplyBatcher.make({
    send: port.send,
    sendNow: port.sendNow,
    rss,
    onLost: () => port.done(1),
    maxFrameBytes: options.maxFrameBytes
  })

  const flush = () => {
    flushScheduled = false
    const sent = replies.flush()
    // Taken at once by a synchronous channel (or nothing to send): runs that wait may start now.
    if (sent === undefined) return pumping ? undefined : afterSent()
    sending = sent
    void sent.then(() => {
      if (sending !== sent) return
      sending = undefined
      afterSent()
    })
  }

  const afterSent = () => {
    pump()
    if (closing) exitIfClosed()
    if (stopped !== undefined) stoppedIfDone()
  }

  const limit = options.maxPayloadBytes
  const mapStack = port.mapStack
  /** A reply as it leaves the child: over `maxPayloadBytes` it is `TooLarge`; its stacks (a defect's cause's too) are mapped back to the original files. */
  const outgoing = (reply: Reply): Reply => {
    if (limit !== undefined && (reply._tag === "Success" || reply._tag === "Failure")) {
      const size = Codec.encodedSize(reply._tag === "Success" ? reply.value : reply.error)
      if (size > limit) return { _tag: "TooLarge", size, limit }
    }
    if (mapStack === undefined) return reply
    if (reply._tag === "Defect" && reply.cause?.stack !== undefined) {
      const cause = { ...reply.cause, stack: mapStack(reply.cause.stack) }
      return reply.stack === undefined ? { ...reply, cause } : { ...reply, stack: mapStack(reply.stack), cause }
    }
    return (reply._tag === "Failure" || reply._tag === "Defect") && reply.stack !== undefined
      ? { ...reply, stack: mapStack(reply.stack) }
      : reply
  }

  const finish = (id: number, result: Reply) => {
    // The common reply, a success with no size limit to keep, goes out as it is.
    const reply = limit === undefined && result._tag === "Success" ? result : outgoing(result)
    running.delete(id)
    if (retries.size > 0) retries.delete(id)
    const recorded = spans.size > 0 ? spans.get(id) : undefined
    if (recorded !== undefined) spans.delete(id)
    if (options.once) {
      const alone = ReplyBatcher.fitted(reply, options.maxFrameBytes)
      const sent: Promise<void> = sendSafely(port.send, { _tag: "Reply", id, reply: alone })
        .then((why) =>
          why === undefined
            ? alone
            : sendSafely(port.send, { _tag: "Reply", id, reply: ReplyBatcher.unsendable(why) }).then(() => undefined)
        )
        .then((out) => {
          sending = undefined
          // A terminating child ends once its reply is out, by the signal (`terminate`).
          if (stopped === undefined) port.done(out?._tag === "Success" ? 0 : 1)
          else stoppedIfDone()
        })
      sending = sent
      return
    }
    replies.add(id, reply, recorded)
    // Other runs are running and none waits: those that finish in this turn of the event loop reply together.
    if (running.size > 0 && queue.length === 0) {
      if (!flushScheduled) {
        flushScheduled = true
        port.defer(flush)
      }
      return
    }
    // A run waits to start (this reply goes out first), or no run could join this reply: it goes out now.
    flush()
  }

  // Every run of a task starts in the same context (the forwarding logger, the task's name on its log
  // lines), built once per task rather than provided and annotated per run.
  const loggers = new Set([logger])
  const runners = new Map<string, ReturnType<typeof Effect.runForkWith<never>>>()
  const runnerOf = (task: Task.Any) => {
    let runner = runners.get(task.name)
    if (runner === undefined) {
      runner = Effect.runForkWith(
        Context.make(Logger.CurrentLoggers, loggers).pipe(
          Context.add(References.CurrentLogAnnotations, { "troupe.task": task.name })
        )
      )
      runners.set(task.name, runner)
    }
    return runner
  }

  /** Runs a run whose module is loaded: finds its task, then replies at once or forks the task's fiber. */
  const execute = (run: Run) => {
    const task = Task.find(run.task)
    if (task === undefined) {
      const message = `module ${run.module} defines no task named ${run.task}; define it at the top level, outside the main guard`
      return finish(run.id, Codec.spawnFailedReply("TaskNotFound", message))
    }
    if (run.attempt !== undefined && run.attempt > 1) retries.set(run.id, run.attempt)
    const trace = run.trace
    if (trace === undefined) {
      // A handler that answers at once (`Effect.succeed`, `Effect.fail`) needs no fiber: its reply comes back.
      const reply = Codec.replyNow(task, run.payload, task.handler)
      return Effect.TypeId in reply ? fork(run.id, task, reply) : finish(run.id, reply)
    }
    const recorded: Array<SpanRecord> = []
    spans.set(run.id, recorded)
    // `runInChild` always succeeds, with the reply: inside the span, a reply other than a success fails, so the
    // span ends as the task did (a typed failure or a defect is a failed span); outside it, it is the reply again.
    const traced = ChildTelemetry.traced(
      Effect.flatMap(Codec.runInChild(task, run.payload), (reply) =>
        reply._tag === "Success" ? Effect.succeed(reply) : Effect.fail(reply)
      ),
      `troupe.task ${task.name}`,
      trace,
      { "troupe.task": task.name, "troupe.pid": port.pid, "troupe.attempt": run.attempt ?? 1 },
      recorded
    )
    fork(run.id, task, Effect.catch(traced, Effect.succeed))
  }

  const fork = (id: number, task: Task.Any, effect: Effect.Effect<Reply>) => {
    // The fiber runs its first steps before it is returned: meanwhile, `Process.current` finds the run here.
    starting = id
    const fiber = runnerOf(task)(effect)
    starting = undefined
    running.set(id, fiber)
    // A run the SIGTERM interrupted answers `Interrupted` even when a finalizer failed or died on the way: its outcome
    // is the exit by the signal (a retry, `WorkerCrashed`, `ProcessCrashed`), as for a child the signal ended at once.
    fiber.addObserver((exit) =>
      finish(id, stopped !== undefined && Exit.hasInterrupts(exit) ? interrupted : Codec.replyOfExit(exit))
    )
  }

  const start = (run: Run) => {
    if (run.module === undefined) {
      return finish(run.id, Codec.spawnFailedReply("ModuleNotFound", `the parent named no module for task ${run.task}`))
    }
    // Sent before the task runs: if the child dies in the task, the parent knows it had started.
    if (run.confirm === true) void sendSafely(port.send, { _tag: "Started", id: run.id })
    const loaded = loader.load(run.module)
    if (loaded === true) return execute(run)
    running.set(run.id, "loading")
    loaded.then(
      // Importing may have kept the event loop busy while the run's `Interrupt` came: the run waits until the
      // frames already received are read. A deferred call runs before the loop's next poll, one deferred from it
      // after: that poll reads what the channel holds. A SIGTERM meanwhile dropped the run: it never ran.
      () =>
        port.defer(() =>
          port.defer(() => {
            const state = running.get(run.id)
            if (state === "interrupted") finish(run.id, interrupted)
            else if (state !== undefined) execute(run)
          })
        ),
      (error) => {
        if (running.has(run.id)) finish(run.id, ModuleLoader.failedReply(run.module, error))
      }
    )
  }

  // A synchronous run finishes inside `start`, and sending its reply may pump again: the loop below goes on
  // instead (it sees every change a nested call would act on).
  let pumping = false
  const pump = () => {
    if (pumping || stopped !== undefined) return
    pumping = true
    try {
      while (running.size < options.concurrency) {
        // Every reply reaches the channel before the next run starts: if that run kills the child, the parent
        // must not mistake a finished run for it. The write is synchronous unless the channel is backed up; then
        // the run waits for it. (Replies wait unsent only while a flush is scheduled.)
        if (flushScheduled) flush()
        if (sending !== undefined || reading) return
        const run = queue.shift()
        if (run === undefined) return
        start(run)
      }
    } finally {
      pumping = false
    }
  }

  const interrupt = (id: number) => {
    if (queue.remove((run) => run.id === id) !== undefined) return finish(id, interrupted)
    const current = running.get(id)
    if (current === "loading") running.set(id, "interrupted")
    else if (current !== undefined && current !== "interrupted") current.interruptUnsafe()
  }

  /**
   * The graceful stop (SIGTERM): the runs waiting are dropped and those loading their module too (none of them ran),
   * the running ones are interrupted (their finalizers run) and reply as usual, the actors stop. The parent hears
   * first that the signal came (`Terminating`): the `Interrupted` replies that follow are its doing.
   */
  let ended: Promise<Ending> | undefined
  const terminate = (): Promise<Ending> => {
    if (ended !== undefined) return ended
    const runsDone = new Promise<void>((resolve) => {
      stopped = resolve
    })
    // The runs waiting never started: a pool's go back (`Withdrawn`), so the pool runs them elsewhere rather than
    // count them among the runs the signal may have cut short. A `once` child's run fails with its exit.
    let dropped = false
    for (let run = queue.shift(); run !== undefined; run = queue.shift()) {
      if (options.once) continue
      replies.add(run.id, withdrawn, undefined)
      dropped = true
    }
    if (running.size > 0 || dropped || actors !== undefined) void sendSafely(port.send, { _tag: "Terminating" })
    for (const [id, run] of running) {
      if (typeof run !== "string") run.interruptUnsafe()
      else {
        running.delete(id)
        // A pool's run still loading its module never started: it goes back (`Withdrawn`), so the pool runs it
        // elsewhere rather than count it among the runs the signal may have cut short.
        if (!options.once) {
          replies.add(id, run === "loading" ? withdrawn : interrupted, undefined)
          dropped = true
        }
      }
    }
    if (dropped) flush()
    stoppedIfDone()
    const hosted = actors
    ended =
      hosted === undefined
        ? runsDone.then(() => "signal")
        : Promise.all([runsDone, hosted.terminate()]).then(() => "exit")
    return ended
  }
  port.onTerminate?.(terminate)

  /** Runs that came after the SIGTERM: they go back unstarted (`Withdrawn`), with the replies still to send. */
  const giveBack = (runs: ReadonlyArray<{ readonly id: number }>) => {
    for (const run of runs) replies.add(run.id, withdrawn, undefined)
    flush()
  }

  /** Imports modules ahead of their tasks and compiles their codecs; a failure waits for the task that needs it. */
  const preload = (list: ReadonlyArray<string>) =>
    loader.preload(list).then(() => {
      for (const task of Task.registered()) Codec.warm(task)
    })

  if (options.bundled) loader.markLoaded(options.preload)
  const warmUp = preload(options.preload).then(() => {
    Effect.runSync(Effect.void)
  })

  return {
    warmUp,
    // Only what is held goes out: the child is exiting already.
    lastWords: () => {
      void replies.flush()
    },
    onMessage: (message) => {
      if (!reading) {
        reading = true
        queueMicrotask(() => {
          reading = false
          pump()
        })
      }
      const frame = decodeParentFrame(message)
      if (frame._tag === "Failure") {
        void sendSafely(port.send, {
          _tag: "ProtocolError",
          message: `the child received a malformed frame: ${String(frame.cause)}`
        })
        return
      }
      const value = frame.value
      switch (value._tag) {
        case "Run":
        case "Batch": {
          // A terminating child starts nothing more: the runs sent meanwhile never run, and a pool's go back.
          if (stopped !== undefined)
            return options.once ? undefined : giveBack(value._tag === "Run" ? [value] : value.runs)
          if (bootstrapping) endBootstrap()
          const runs = value._tag === "Run" ? [value] : value.runs
          for (let i = 0; i < runs.length; i++) {
            const run = runs[i]! as { readonly task: string; module?: string | undefined }
            // The parent names a task's module in the first run of it it sends here; later runs get it from that one.
            if (run.module !== undefined) moduleOfTask.set(run.task, run.module)
            else run.module = moduleOfTask.get(run.task)
            queue.push(run as Run)
          }
          break
        }
        case "Interrupt":
          interrupt(value.id)
          break
        case "Withdraw":
          // Only a run still waiting goes back (one that started answers for itself), and at once: the runs
          // running may hold the others back for long.
          if (queue.remove((run) => run.id === value.id) === undefined) return
          replies.add(value.id, withdrawn, undefined)
          return flush()
        case "Close":
          closing = true
          return exitIfClosed()
        case "Load":
          void preload(value.modules)
          return
        case "Actors":
          if (bootstrapping) endBootstrap()
          actors ??= ActorServer.make(port, loader, logger, options.maxFrameBytes)
          actors.onFrames(value.frames)
          return
        case "CallReply":
        case "CallRefused":
          ParentLink.answer(value)
          return
      }
      pump()
    }
  }
}
