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
  return { ChildRunner: await import(pathToFileURL(bundle).href), mapStack: stackMapper(bundle) }
}
