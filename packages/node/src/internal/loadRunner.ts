/**
 * What a child entry (a forked process or a worker thread) loads first: the
 * core's runner, from the bundle its parent built when there is one (the
 * runner and the task modules in one file, see bundle.ts), with the mapper
 * that turns the bundle's stack frames back into the original files.
 *
 * @internal
 */
import { pathToFileURL } from "node:url"
import { bundleOf } from "./runnerOptions.ts"
import { stackMapper } from "./stackMapper.ts"

export const loadRunner = async (
  argv: ReadonlyArray<string>
): Promise<{
  readonly ChildRunner: typeof import("@troupe/core/ChildRunner")
  readonly mapStack: ((stack: string) => string) | undefined
}> => {
  const bundle = bundleOf(argv)
  if (bundle === undefined) return { ChildRunner: await import("@troupe/core/ChildRunner"), mapStack: undefined }
  // The map is read the first time a stack is sent, not at start-up.
  const mapStack = stackMapper(bundle)
  // Before the bundle loads: a task defined in it names its original module, not the bundle
  // (the key is core's `bundleMapperKey`, spelled out so the unbundled core is not loaded here).
  ;(globalThis as Record<symbol, unknown>)[Symbol.for("@troupe/core/bundleStackMapper")] = mapStack
  return { ChildRunner: await import(pathToFileURL(bundle).href), mapStack }
}
