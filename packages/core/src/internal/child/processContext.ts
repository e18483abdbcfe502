/**
 * What this process (or worker thread) knows about itself: the state behind
 * `Process.current`, `Process.activeChildren` and the fork-bomb guard.
 *
 * - Identity: a child's runner records its name, pid, parent pid and, for a
 *   pool worker, its pool and index (`ChildRunner.Options.identity`). A
 *   process that no runner serves is the main program.
 * - The running task: the runner registers how to find the run a fiber
 *   belongs to. It is looked up only when a task reads `Process.current`,
 *   from the reading fiber up through the fibers that forked it, so a run
 *   that never reads it pays nothing.
 * - Bootstrapping: a child entry marks its process as bootstrapping before it
 *   imports its task modules; the runner ends the phase when the first run or
 *   actor frame arrives. Its loader counts the imports of task modules after
 *   that. Starting a process or a pool from a fiber that is no run's while
 *   either lasts is refused (`StartedWhileBootstrapping`): it can only come
 *   from a module's top level, outside its `import.meta.main` guard.
 * - Live children: every child a `Process`, pool or actor host spawns, until
 *   its scope closes.
 *
 * All of it lives in globals of the process (or thread): a bundled child
 * carries its own copy of this module next to the entry's, and both must see
 * the same state.
 *
 * @internal
 */
import type * as Fiber from "effect/Fiber"
import * as References from "effect/References"

/** Who this process is, as its runner was told. */
export interface Identity {
  readonly name: string
  readonly pid: number
  readonly parentPid: number | undefined
  readonly pool: { readonly name: string; readonly worker: number } | undefined
}

/** The run a fiber belongs to. */
export interface RunInfo {
  readonly task: string
  readonly id: number
  readonly attempt: number
}

/** One live child of this process. */
export interface LiveChild {
  readonly pid: number
  readonly name: string
  readonly kind: "process" | "worker" | "actor"
  readonly pool: { readonly name: string; readonly worker: number } | undefined
  readonly alive: () => boolean
}

interface State {
  identity: Identity | undefined
  findRun: ((fiberOrAncestor: Fiber.Fiber<unknown, unknown>) => number | undefined) | undefined
  attemptOf: ((id: number) => number) | undefined
  readonly children: Set<LiveChild>
  processCount: number
  /** Module imports in progress in this child's loader. */
  importing: number
}

const stateKey = Symbol.for("@troupe/core/processContext")
/** Set by a child entry before anything else loads (the entry does not load the core to do it). */
export const bootstrappingKey = Symbol.for("@troupe/core/bootstrapping")

const globals = globalThis as { [stateKey]?: State; [bootstrappingKey]?: boolean }
if (globals[stateKey] === undefined) {
  globals[stateKey] = {
    identity: undefined,
    findRun: undefined,
    attemptOf: undefined,
    children: new Set(),
    processCount: 0,
    importing: 0
  }
}
const state: State = globals[stateKey]

const host = (globalThis as { process?: { pid?: number; ppid?: number } }).process

/** This process's identity: the one its runner recorded, or the main program's. */
export const identity = (): Identity =>
  state.identity ?? { name: "main", pid: host?.pid ?? 0, parentPid: host?.ppid, pool: undefined }

/** Whether a runner serves this process (it is a Troupe child). */
export const isChild = (): boolean => state.identity !== undefined

/** Records this child's identity and how to find the run a fiber belongs to (the runner calls it once). */
export const serve = (
  identity: Identity,
  findRun: (fiber: Fiber.Fiber<unknown, unknown>) => number | undefined,
  attemptOf: (id: number) => number
): void => {
  state.identity = identity
  state.findRun = findRun
  state.attemptOf = attemptOf
}

/** The run `fiber` belongs to: its own, or that of the nearest fiber up the chain of forks that is a run's. */
export const runOf = (fiber: Fiber.Fiber<unknown, unknown>): RunInfo | undefined => {
  const { attemptOf, findRun } = state
  if (findRun === undefined || attemptOf === undefined) return undefined
  // `_parent` is the fiber that forked this one, while both run (Effect's FiberImpl); absent, only the run's own fiber is found.
  for (let at: Fiber.Fiber<unknown, unknown> | undefined = fiber; at !== undefined; at = (at as Forked)._parent) {
    const id = findRun(at)
    if (id === undefined) continue
    // A run's fibers carry its task's name (the runner starts them with it); a fiber that does not is no run's,
    // such as a fresh root fiber the handler's synchronous first steps started.
    const task = at.getRef(References.CurrentLogAnnotations)["troupe.task"]
    return typeof task === "string" ? { task, id, attempt: attemptOf(id) } : undefined
  }
  return undefined
}

interface Forked extends Fiber.Fiber<unknown, unknown> {
  readonly _parent?: Fiber.Fiber<unknown, unknown> | undefined
}

/** Counts a module import in progress (the child's loader calls it); returns the function that ends it. */
export const importing = (): (() => void) => {
  state.importing++
  return () => {
    state.importing--
  }
}

/**
 * Whether code in `fiber` may not start a process or a pool now: the child is
 * bootstrapping or importing a task module, and `fiber` is not a run's (a
 * task running while another module loads may start what it likes).
 */
export const refusesStart = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  (globals[bootstrappingKey] === true || state.importing > 0) && runOf(fiber) === undefined

/** Whether this child is still bootstrapping: its entry marked it, and no run has come yet. */
export const isBootstrapping = (): boolean => globals[bootstrappingKey] === true

/** Whether code in `fiber` is a task module's top level: the child's loader imports a module, and `fiber` is no run's. */
export const inModuleImport = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  state.importing > 0 && runOf(fiber) === undefined

/** Ends the bootstrapping phase: the child now runs what its parent sends. */
export const bootstrapped = (): void => {
  if (globals[bootstrappingKey] === true) globals[bootstrappingKey] = false
}

/** Adds a live child; returns the function that removes it. */
export const addChild = (child: LiveChild): (() => void) => {
  state.children.add(child)
  return () => {
    state.children.delete(child)
  }
}

/** The children still alive. */
export const liveChildren = (): ReadonlyArray<LiveChild> => [...state.children].filter((child) => child.alive())

/** The default name of the next `Process` child: `Process-1`, `Process-2`, ... as Python names them. */
export const nextProcessName = (): string => `Process-${++state.processCount}`
