/**
 * What a child entry (a forked process or a worker thread) loads first: the
 * core's runner, from the bundle its parent built when there is one (the
 * runner and the task modules in one file, see bundle.ts), with the mapper
 * that turns the bundle's stack frames back into the original files, and
 * the runner options the parent passed.
 *
 * A bundle holds the task modules, so a module whose top-level `await` never
 * settles would keep the bundle from ever loading. Its import is bounded by
 * the runner's `moduleLoadTimeoutMs`: past it, the child gives up on the
 * bundle and starts unbundled, and the runner then loads each module within
 * the same bound, so only the stuck module's tasks fail
 * (`ModuleLoadTimeout`). A bundle whose import throws (a task module that
 * throws at its top level) is given up the same way: the runner then loads
 * each module on its own, and only the throwing module's tasks fail
 * (`ModuleNotFound`), where the child used to die while starting, failing the
 * calls queued for every module of the pool with `ForkFailed`.
 *
 * @internal
 */
import { pathToFileURL } from "node:url"
import type * as Runner from "@troupe/core/ChildRunner"
import { bundleOf, fromArguments } from "./runnerOptions.ts"
import { stackMapper } from "./stackMapper.ts"

export const loadRunner = async (
  argv: ReadonlyArray<string>
): Promise<{
  readonly ChildRunner: typeof import("@troupe/core/ChildRunner")
  readonly mapStack: ((stack: string) => string) | undefined
  readonly options: Runner.Options
}> => {
  const bundle = bundleOf(argv)
  const unbundled = async () => {
    const ChildRunner = await import("@troupe/core/ChildRunner")
    const options = { ...fromArguments(argv, ChildRunner.defaultOptions), bundled: false }
    return { ChildRunner, mapStack: undefined, options }
  }
  if (bundle === undefined) return unbundled()
  const timeoutMs = fromArguments(argv, {} as Runner.Options).moduleLoadTimeoutMs
  // The map is read the first time a stack is sent, not at start-up.
  const mapStack = stackMapper(bundle)
  // Before the bundle loads: a task defined in it names its original module, not the bundle
  // (the key is core's `bundleMapperKey`, spelled out so the unbundled core is not loaded here).
  ;(globalThis as Record<symbol, unknown>)[Symbol.for("@troupe/core/bundleStackMapper")] = mapStack
  const importing: Promise<typeof import("@troupe/core/ChildRunner") | undefined> = import(
    pathToFileURL(bundle).href
  ).catch(() => undefined)
  let timer: ReturnType<typeof setTimeout> | undefined
  const loaded =
    timeoutMs === undefined
      ? await importing
      : await Promise.race([
          importing,
          new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)))
        ])
  clearTimeout(timer)
  if (loaded === undefined) return unbundled()
  return { ChildRunner: loaded, mapStack, options: fromArguments(argv, loaded.defaultOptions) }
}
