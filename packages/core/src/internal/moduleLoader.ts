/**
 * Loads the modules a child serves (task modules, actor behaviour modules),
 * once each.
 *
 * Importing a module runs its top-level `Task.make` and `Actor.behaviour`
 * calls, which register what the child can run. A module that fails to load
 * is forgotten, so the next request tries again and reports its own error.
 *
 * @internal
 */

export interface ModuleLoader {
  /** `true` when the module is loaded; otherwise a promise that settles when it is (or fails to). */
  readonly load: (module: string) => true | Promise<void>
  /** Loads several modules; a failure waits for whoever needs that module. */
  readonly preload: (modules: ReadonlyArray<string>) => Promise<void>
  /** Counts modules as loaded (they came in a bundle and have already run). */
  readonly markLoaded: (modules: ReadonlyArray<string>) => void
}

export const make = (): ModuleLoader => {
  const modules = new Map<string, Promise<void> | true>()

  const load = (module: string): true | Promise<void> => {
    const known = modules.get(module)
    if (known !== undefined) return known
    const loading = import(module).then(
      () => {
        modules.set(module, true)
      },
      (error) => {
        modules.delete(module)
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
