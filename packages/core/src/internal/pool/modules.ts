/**
 * The task modules a pool's workers load: the ones it knows (every new
 * worker preloads them before it reports ready), and the ones that did not
 * finish loading in time (never loaded again; their calls fail at once).
 * A call of a task from a module the pool did not know teaches it the
 * module: idle workers that cannot serve it restart with it, busy ones when
 * idle, and the others are asked to load it ahead of its first run.
 *
 * @internal
 */
import type * as Task from "../../Task.ts"
import { SpawnError } from "../../TroupeError.ts"
import type { Dispatcher } from "./dispatcher.ts"
import type { Slot } from "./slot.ts"

export class Modules {
  private readonly known = new Set<string>()
  /** Modules that did not finish loading within `moduleLoadTimeout`, with the error's message. */
  private readonly timedOut = new Map<string, string>()
  private readonly dispatcher: Dispatcher

  constructor(dispatcher: Dispatcher, modules: Iterable<string>) {
    this.dispatcher = dispatcher
    for (const module of modules) this.known.add(module)
  }

  /** What a new worker preloads. */
  preload(): Array<string> {
    return [...this.known]
  }

  /**
   * A call of `task` (from `module`) is about to be queued: it fails with a
   * `SpawnError` if its module timed out loading; otherwise the pool knows
   * its module from now on.
   */
  use(task: Task.Any, module: string): SpawnError | undefined {
    if (this.known.has(module)) return undefined
    const refused = this.refusal(task)
    if (refused !== undefined) return refused
    this.known.add(module)
    for (const slot of this.dispatcher.slots) {
      if (slot.state === "ready" && slot.held.size === 0 && this.isStale(slot)) slot.retire("Retired")
      else slot.load(module)
    }
    return undefined
  }

  private refusal(task: Task.Any): SpawnError | undefined {
    const message = this.timedOut.get(task.module)
    return message === undefined
      ? undefined
      : new SpawnError({ reason: "ModuleLoadTimeout", module: task.module, task: task.name, message })
  }

  /** Whether a worker cannot serve a module the pool now knows (its modules were fixed at its spawn). */
  readonly isStale = (slot: Slot): boolean => {
    const modules = slot.modules
    if (modules === undefined) return false
    for (const module of this.known) if (!modules.has(module)) return true
    return false
  }

  /** `module` did not finish loading in time: never loaded again; its queued calls fail now, later ones at once. */
  readonly moduleTimedOut = (module: string, error: SpawnError): void => {
    if (this.timedOut.has(module)) return
    this.timedOut.set(module, error.message)
    this.known.delete(module)
    // Queued calls of the module would wait for a worker that serves it, and none will start with it again.
    this.dispatcher.failQueuedOf(module, (item) => this.refusal(item.task))
  }
}
