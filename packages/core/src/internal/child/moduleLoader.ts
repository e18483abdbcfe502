/**
 * Loads the modules a child serves (task modules, actor behaviour modules),
 * once each, within a bound.
 *
 * Importing a module runs its top-level `Task.make` and `Actor.behaviour`
 * calls, which register what the child can run. A module that fails to load
 * is forgotten, so the next request tries again and reports its own error.
 * A module that does not finish loading within `timeoutMs` (a top-level
 * `await` that never settles) fails with `ModuleLoadTimedOut` and stays
 * failed in this child: importing it again would only wait on the same
 * pending evaluation.
 *
 * @internal
 */
import { defectText, spawnFailedReply } from "../wire/codec.ts"
import type { Reply } from "../wire/frame.ts"
import * as ProcessContext from "./processContext.ts"

export interface ModuleLoader {
  /** `true` when the module is loaded; otherwise a promise that settles when it is (or fails to). */
  readonly load: (module: string) => true | Promise<void>
  /** Loads several modules; a failure waits for whoever needs that module. */
  readonly preload: (modules: ReadonlyArray<string>) => Promise<void>
  /** Counts modules as loaded (they came in a bundle and have already run). */
  readonly markLoaded: (modules: ReadonlyArray<string>) => void
}

/** A module whose evaluation did not finish within the loader's bound. */
export class ModuleLoadTimedOut extends Error {
  readonly module: string
  readonly timeoutMs: number
  constructor(module: string, timeoutMs: number) {
    super(`${module} did not finish loading within ${timeoutMs} ms (a top-level await that never settles?)`)
    this.name = "ModuleLoadTimedOut"
    this.module = module
    this.timeoutMs = timeoutMs
  }
}

/** Settles like `promise`, or fails with `ModuleLoadTimedOut` once `timeoutMs` passes first. */
export const withinBound = <A>(promise: Promise<A>, module: string, timeoutMs: number | undefined): Promise<A> =>
  timeoutMs === undefined
    ? promise
    : new Promise<A>((resolve, reject) => {
        const timer = setTimeout(() => reject(new ModuleLoadTimedOut(module, timeoutMs)), timeoutMs)
        promise.then(
          (value) => {
            clearTimeout(timer)
            resolve(value)
          },
          (error) => {
            clearTimeout(timer)
            reject(error)
          }
        )
      })

/**
 * The reply for a run or an actor whose `module` failed to load with
 * `error`: a `SpawnFailed` reply, `ModuleLoadTimeout` when the module did
 * not finish loading in time, `ModuleNotFound` otherwise.
 */
export const failedReply = (module: string, error: unknown): Reply =>
  error instanceof ModuleLoadTimedOut
    ? spawnFailedReply("ModuleLoadTimeout", error.message)
    : spawnFailedReply("ModuleNotFound", `cannot import ${module}: ${defectText(error)}`)

export const make = (options: { readonly timeoutMs?: number | undefined } = {}): ModuleLoader => {
  const modules = new Map<string, Promise<void> | true>()

  const load = (module: string): true | Promise<void> => {
    const known = modules.get(module)
    if (known !== undefined) return known
    // While it evaluates, the module may not start a process or a pool (the fork-bomb guard, processContext.ts).
    const done = ProcessContext.importing()
    const imported = import(module)
    imported.then(done, done)
    const loading = withinBound(imported, module, options.timeoutMs).then(
      () => {
        modules.set(module, true)
      },
      (error) => {
        // A timed-out module keeps its failed promise: the next request fails at once with the same error.
        if (!(error instanceof ModuleLoadTimedOut)) modules.delete(module)
        throw error
      }
    )
    modules.set(module, loading)
    return loading
  }

  return {
    load,
    preload: (list) =>
      Promise.all(
        list.map((module) => {
          const loading = load(module)
          return loading === true ? undefined : loading.catch(() => undefined)
        })
      ).then(() => undefined),
    markLoaded: (list) => {
      for (const module of list) modules.set(module, true)
    }
  }
}
