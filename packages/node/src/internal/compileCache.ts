/**
 * Node's on-disk compile cache (V8 code cache) for a child entry, in the
 * child's private cache directory.
 *
 * A child's start-up time is module loading, and compiling the bundle (or
 * the unbundled modules) is part of it. Node keeps compiled code on disk
 * when the cache is on; a child entry turns it on before it loads the
 * runner. The directory is the bundle cache's (see bundle.ts), because
 * cached code is code: the child runs what it finds there, so it must not
 * be a directory other users can write to (Node's default is a shared one
 * under the temporary directory). `NODE_COMPILE_CACHE` (the user's own
 * directory) and `NODE_DISABLE_COMPILE_CACHE=1` still win: Node applies
 * them before any entry runs. Nothing here can stop a child from starting:
 * a directory that cannot be used only costs the cache.
 *
 * @internal
 */
import * as Module from "node:module"
import { dirname, join } from "node:path"
import { privateCacheDirectory } from "./cacheDirectory.ts"

type Enable = (directory: string) => unknown

/** Turns the compile cache on in this process or thread, in the bundle's directory (or the private cache one). */
export const enable = (bundle: string | undefined): void => {
  const enableCompileCache = (Module as { enableCompileCache?: Enable }).enableCompileCache
  if (typeof enableCompileCache !== "function") return
  try {
    const directory = bundle === undefined ? privateCacheDirectory() : dirname(bundle)
    if (directory !== undefined) enableCompileCache(join(directory, "compile-cache"))
  } catch {}
}

/**
 * Writes what this child compiled to the cache now, not when it exits: a
 * child that is killed (or crashes) never gets to write it, and the next
 * one would compile everything again.
 */
export const flush = (): void => {
  const flushCompileCache = (Module as { flushCompileCache?: () => void }).flushCompileCache
  try {
    if (typeof flushCompileCache === "function") flushCompileCache()
  } catch {}
}
