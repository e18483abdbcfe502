/**
 * Where the child entry points live on disk: the files `NodeProcess` forks
 * and `NodeThread` starts a worker on.
 *
 * They sit next to this module (`.ts` in the sources, `.js` in an installed
 * package's `dist/`), so their paths come from `import.meta.url`, except
 * inside a worker bundle (see bundle.ts): there `import.meta.url` is the
 * bundle's, in a temporary directory with no entry points next to it. An
 * entry (`childMain`, `threadMain`) always runs from its real file and
 * imports this module before it loads a bundle, so the first copy of this
 * module in a process or thread is a real one: it records its paths in a
 * global, and every later copy (a bundled one) takes them from there. A task
 * that itself starts a `Process` or a pool from a bundled worker then forks
 * the real entry.
 *
 * @internal
 */
import { extname } from "node:path"
import { fileURLToPath } from "node:url"

/** The entry points' absolute paths. */
export interface EntryPoints {
  /** What `NodeProcess` forks. */
  readonly childMain: string
  /** What `NodeThread` starts a worker thread on. */
  readonly threadMain: string
}

const key = Symbol.for("@troupe/node/entryPoints")

const nextToThisModule = (): EntryPoints => {
  const extension = extname(import.meta.url)
  return {
    childMain: fileURLToPath(new URL(`./childMain${extension}`, import.meta.url)),
    threadMain: fileURLToPath(new URL(`./threadMain${extension}`, import.meta.url))
  }
}

const registry = globalThis as { [key]?: EntryPoints }

if (registry[key] === undefined) registry[key] = nextToThisModule()

/** The entry points of this process (or thread): the first copy of this module to load found them. */
export const entryPoints: EntryPoints = registry[key]
