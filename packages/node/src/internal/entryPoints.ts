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
 * An app bundled whole (esbuild `--bundle`) holds a copy of this module with
 * no entry points beside it either, and no real copy loaded first (in a
 * CommonJS bundle, `import.meta.url` is not even set). There the entries are
 * the installed package's, next to its main module, resolved from the
 * bundle's folder; without an installed `@troupe/node` there is none, and
 * `missing` says why, so that a start fails with that explanation.
 *
 * @internal
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { extname } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** The entry points' absolute paths. */
export interface EntryPoints {
  /** What `NodeProcess` forks. */
  readonly childMain: string
  /** What `NodeThread` starts a worker thread on. */
  readonly threadMain: string
  /** Why the entries cannot be started, when they do not exist. */
  readonly missing?: string
}

const key = Symbol.for("@troupe/node/entryPoints")

/** The entries in a folder of the package, with the extension of its modules there (`.ts` or `.js`). */
const inFolder = (folder: URL, extension: string): EntryPoints => ({
  childMain: fileURLToPath(new URL(`childMain${extension}`, folder)),
  threadMain: fileURLToPath(new URL(`threadMain${extension}`, folder))
})

/** This copy's file: `import.meta.url`, or a CommonJS bundle's `__filename`, else the program's. */
const thisFile = (): string =>
  import.meta.url ??
  pathToFileURL(typeof __filename === "string" ? __filename : (process.argv[1] ?? `${process.cwd()}/`)).href

/** The entries of the `@troupe/node` installed where `file` would import it from. */
const installedFrom = (file: string): EntryPoints | undefined => {
  try {
    const main = pathToFileURL(createRequire(file).resolve("@troupe/node")).href
    return inFolder(new URL("./internal/", main), extname(main))
  } catch {
    return undefined
  }
}

const find = (): EntryPoints => {
  const file = thisFile()
  const own = inFolder(new URL(".", file), extname(file))
  if (existsSync(own.childMain)) return own
  const installed = installedFrom(file)
  if (installed !== undefined && existsSync(installed.childMain)) return installed
  return {
    ...own,
    missing:
      `Troupe's child entry point is not next to ${fileURLToPath(file)}, and no installed @troupe/node was ` +
      "found from there: this program is a bundle that holds @troupe/node. Keep the packages out of the " +
      "bundle (esbuild --packages=external), or install @troupe/node where the bundle runs"
  }
}

const registry = globalThis as { [key]?: EntryPoints }

if (registry[key] === undefined) registry[key] = find()

/** The entry points of this process (or thread): the first copy of this module to load found them. */
export const entryPoints: EntryPoints = registry[key]
