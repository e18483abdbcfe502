/**
 * The caller's side of a pool call, before the dispatcher: the call's
 * settings (its own, its task's, the pool's), its payloads encoded for the
 * wire, its task's module made known to the pool; then one entry into the
 * dispatcher, which queues it. Everything here runs synchronously in the
 * caller's turn, without a fiber (`Pool` wraps `one` in the caller's fiber,
 * a Promise caller calls it directly).
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { CallOptions, MapOptions } from "../../Pool.ts"
import * as Task from "../../Task.ts"
import type { InvalidOption, PoolShuttingDown, RestartIntensityExceeded } from "../../TroupeError.ts"
import { notATask } from "../options.ts"
import type { Trace } from "../telemetry.ts"
import * as Codec from "../wire/codec.ts"
import type { Dispatcher } from "./dispatcher.ts"
import type { Modules } from "./modules.ts"
import { type CallSettings, callSettings, validateCall } from "./poolOptions.ts"

export interface SubmissionOptions {
  readonly dispatcher: Dispatcher
  readonly modules: Modules
  /** Whether the transport shares memory with its workers (threads): payloads may then carry shared buffers. */
  readonly sharesMemory: boolean
  readonly maxPayloadBytes: number | undefined
  /** The pool's defaults for calls and tasks that set none. */
  readonly retries: number | undefined
  readonly timeout: CallOptions["timeout"]
}

/** What every call of one task shares, worked out at its first call. */
interface KnownTask {
  /** Its module's URL (`Task.module` is a getter that may read a source map). */
  readonly module: string
  /** The settings of a call that sets no options: the task's, else the pool's. */
  readonly settings: CallSettings
}

export class Submission {
  private readonly dispatcher: Dispatcher
  private readonly modules: Modules
  private readonly options: SubmissionOptions
  private readonly tasks = new WeakMap<Task.Any, KnownTask>()

  constructor(options: SubmissionOptions) {
    this.options = options
    this.dispatcher = options.dispatcher
    this.modules = options.modules
  }

  /**
   * Works out what the calls of `task` share, at its first call. Something
   * that is not a task (a caller without types) is a defect with a message
   * that says so, not an error from deep inside the codec.
   */
  private learn(task: Task.Any): KnownTask | Exit.Exit<never> {
    if (!Task.isTask(task)) {
      return Exit.die(notATask("a pool call", task))
    }
    const known: KnownTask = {
      module: task.module,
      // A call without options cannot be invalid: only its own options are validated here.
      settings: callSettings(task, undefined, this.options) as CallSettings
    }
    this.tasks.set(task, known)
    return known
  }

  /** The settings of a call; `servingChild`: it is made while serving a child's call, so it is not prefetched. */
  private settings(
    task: Task.Any,
    known: KnownTask,
    call: MapOptions | undefined,
    servingChild: boolean
  ): CallSettings | InvalidOption {
    const settings = this.ownSettings(task, known, call)
    return servingChild && !("_tag" in settings) && settings.prefetch ? { ...settings, prefetch: false } : settings
  }

  private ownSettings(task: Task.Any, known: KnownTask, call: MapOptions | undefined): CallSettings | InvalidOption {
    // Options that set neither retries nor a timeout (a stream's per-item options) get the task's settings too.
    // `null`, from an untyped caller, is no options.
    if (call === undefined || call === null) return known.settings
    if (call.retries === undefined && call.timeout === undefined) return validateCall(call) ?? known.settings
    return callSettings(task, call, this.options)
  }

  /** Why the pool refuses new calls now (it is shutting down, or gave up), or `undefined`. */
  refusal(): PoolShuttingDown | RestartIntensityExceeded | undefined {
    return this.dispatcher.refusal()
  }

  /**
   * One payload (`apply`, `offer`, `Pool.runCallback`): `done` gets the
   * call's exit once, synchronously when it is refused. Returns what cancels
   * the call (`undefined` once refused); see `Dispatcher.submitOne`.
   * `servingChild`: the call is made while serving a child's call.
   */
  one(
    task: Task.Any,
    payload: unknown,
    call: CallOptions | undefined,
    admissionMs: number | undefined,
    trace: Trace | undefined,
    servingChild: boolean,
    done: (exit: Exit.Exit<any, any>) => void
  ): (() => Effect.Effect<void>) | undefined {
    const known = this.tasks.get(task) ?? this.learn(task)
    if ("_tag" in known) return void done(known)
    // The common call sets no options: its task's settings, with no call at all.
    const settings =
      call === undefined && !servingChild ? known.settings : this.settings(task, known, call, servingChild)
    if ("_tag" in settings) return void done(Exit.fail(settings))
    const { maxPayloadBytes, sharesMemory } = this.options
    const encoded = Codec.encodeForWire(task, payload, sharesMemory, maxPayloadBytes)
    if (encoded instanceof Codec.Refused) return void done(encoded.exit)
    const refused = this.modules.use(task, known.module)
    if (refused !== undefined) return void done(Exit.fail(refused))
    return this.dispatcher.submitOne(task, known.module, payload, encoded, settings, admissionMs, trace, done)
  }

  /**
   * Many payloads of one task, in jobs of `chunkSize`: `onItem` gets each
   * item's exit with its index. Returns the call's refusal, or what cancels
   * what is left of it; see `Dispatcher.submitMany`.
   */
  many(
    task: Task.Any,
    payloads: ReadonlyArray<unknown>,
    chunkSize: number,
    call: MapOptions | undefined,
    trace: Trace | undefined,
    servingChild: boolean,
    onItem: (index: number, exit: Exit.Exit<unknown, unknown>, cancelRest: Effect.Effect<void>) => void
  ): Exit.Exit<never, unknown> | Effect.Effect<void> {
    const known = this.tasks.get(task) ?? this.learn(task)
    if ("_tag" in known) return known
    const settings = this.settings(task, known, call, servingChild)
    if ("_tag" in settings) return Exit.fail(settings)
    const { maxPayloadBytes, sharesMemory } = this.options
    const prepared: Array<{ payload: unknown; encoded: unknown }> = new Array(payloads.length)
    for (let index = 0; index < payloads.length; index++) {
      const encoded = Codec.encodeForWire(task, payloads[index], sharesMemory, maxPayloadBytes)
      if (encoded instanceof Codec.Refused) return encoded.exit
      prepared[index] = { payload: payloads[index], encoded }
    }
    const refused = this.modules.use(task, known.module)
    if (refused !== undefined) return Exit.fail(refused)
    return this.dispatcher.submitMany(task, known.module, prepared, chunkSize, settings, trace, onItem)
  }
}
