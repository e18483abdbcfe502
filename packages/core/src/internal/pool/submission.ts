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
import type * as Task from "../../Task.ts"
import type { InvalidOption } from "../../TroupeError.ts"
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

export class Submission {
  private readonly dispatcher: Dispatcher
  private readonly modules: Modules
  private readonly options: SubmissionOptions
  /** A call without options gets its task's settings, worked out once per task. */
  private readonly taskSettings = new WeakMap<Task.Any, CallSettings>()

  constructor(options: SubmissionOptions) {
    this.options = options
    this.dispatcher = options.dispatcher
    this.modules = options.modules
  }

  /** The settings of a call; `servingChild`: it is made while serving a child's call, so it is not prefetched. */
  private settings(
    task: Task.Any,
    call: MapOptions | undefined,
    servingChild: boolean
  ): CallSettings | Exit.Exit<never, InvalidOption> {
    const settings = this.ownSettings(task, call)
    return servingChild && !Exit.isExit(settings) && settings.prefetch ? { ...settings, prefetch: false } : settings
  }

  private ownSettings(task: Task.Any, call: MapOptions | undefined): CallSettings | Exit.Exit<never, InvalidOption> {
    // Options that set neither retries nor a timeout (a stream's per-item options) get the task's settings too.
    const plain = call === undefined || (call.retries === undefined && call.timeout === undefined)
    const cached = plain ? this.taskSettings.get(task) : undefined
    if (cached !== undefined) {
      const invalid = call === undefined ? undefined : validateCall(call)
      return invalid === undefined ? cached : Exit.fail(invalid)
    }
    const settings = callSettings(task, call, this.options)
    if ("_tag" in settings) return Exit.fail(settings)
    if (plain) this.taskSettings.set(task, settings)
    return settings
  }

  private encode(task: Task.Any, payload: unknown) {
    return Codec.encodeForWire(task, payload, this.options.sharesMemory, this.options.maxPayloadBytes)
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
    const settings = this.settings(task, call, servingChild)
    if (Exit.isExit(settings)) return void done(settings)
    const encoded = this.encode(task, payload)
    if (Exit.isFailure(encoded)) return void done(encoded)
    const refused = this.modules.use(task)
    if (refused !== undefined) return void done(Exit.fail(refused))
    return this.dispatcher.submitOne(task, payload, encoded.value, settings, admissionMs, trace, done)
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
    const settings = this.settings(task, call, servingChild)
    if (Exit.isExit(settings)) return settings
    const prepared: Array<{ payload: unknown; encoded: unknown }> = new Array(payloads.length)
    for (let index = 0; index < payloads.length; index++) {
      const exit = this.encode(task, payloads[index])
      if (Exit.isFailure(exit)) return exit as Exit.Exit<never, unknown>
      prepared[index] = { payload: payloads[index], encoded: exit.value }
    }
    const refused = this.modules.use(task)
    if (refused !== undefined) return Exit.fail(refused)
    return this.dispatcher.submitMany(task, prepared, chunkSize, settings, trace, onItem)
  }
}
