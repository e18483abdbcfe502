/**
 * Fast child start: one tree-shaken ES module holding the child runner and
 * the task modules a worker will serve.
 *
 * A child's start-up time is module loading: the runner and a task module
 * pull in a few hundred files of `effect`, which takes a child 250-400 ms of
 * CPU. Bundled with esbuild and tree-shaken, the same code loads in about
 * 20-30 ms, so workers start, and crashed workers come back, several times
 * faster. The parent builds one bundle per set of task modules (memoized),
 * writes it to its cache directory, and the child imports it.
 *
 * The cache directory is private, since a child runs what it finds there:
 * `TROUPE_BUNDLE_DIR` when set, else `$XDG_CACHE_HOME/troupe` (or
 * `~/.cache/troupe`), else `<tmpdir>/troupe-bundles-<uid>`. It is created
 * with mode 0700 and checked on every use: a directory (not a symlink)
 * owned by the current user and writable by no one else, or it is not used.
 * Each bundle's SHA-256 is recorded when it is built and checked just
 * before every child that starts from it; a bundle that does not match is
 * never run (it is built again). When no private directory can be had (a
 * read-only home, a refused directory) or a write fails, children start
 * unbundled: slower, never a crash.
 *
 * Bundles outlive the parent: building one costs about 400 ms (esbuild's
 * import and the build), more than the rest of a pool's start. Next to each
 * bundle, `manifest-<key>.json` names it and lists every file the build read
 * (and every external package file it points to) with its mtime and size;
 * the key is a hash of the sorted task modules, the runner module's path,
 * Node's version, esbuild's version, and this file's path, mtime and size.
 * A later process with the same key takes the bundle, without loading
 * esbuild, while the bundle (its content hash), its source map and every
 * listed file are as they were; any difference, or any error, rebuilds. Not watched: files that
 * only steer the build (`package.json`, `tsconfig.json`); after editing
 * those, delete the directory. esbuild's service process is stopped once
 * no build is running.
 *
 * The cache is pruned when a bundle is built (see `prune`): a manifest
 * marks its last use with its modification time (set when a process takes
 * its bundle), and the manifests unused for a week, or past the 32 used
 * last, go, then every bundle no manifest names. A bundle deleted under a
 * running program costs that program one unbundled child, then a build.
 *
 * What the bundle keeps exactly as Node would run it:
 * - `effect`, `@effect/*` and `@troupe/*` are bundled (one instance of each
 *   in the child); every other package stays external, imported by absolute
 *   path, so native addons and packages that read files next to themselves
 *   behave as usual;
 * - in user modules, `import.meta.url`, `filename` and `dirname` keep their
 *   original values, and `import.meta.main` is `false`, as for an imported
 *   module.
 *
 * When esbuild is missing or a build fails, the child starts unbundled.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { privateCacheDirectory, privateDirectory } from "./cacheDirectory.ts"

const bundledPackages = /^(effect(\/|$)|@effect\/|@troupe\/)/

/** A bundle on disk and the SHA-256 of its contents, recorded when it was built. */
interface Built {
  readonly file: string
  readonly sha256: string
}

const memo = new Map<string, Promise<Built | undefined>>()

const sha256 = (contents: string | Buffer): string => createHash("sha256").update(contents).digest("hex")

/** Per bundle file: the stat stamp and hash of its contents when this process last hashed them. */
const hashedStamps = new Map<string, string>()

const stampOf = (built: Built): string => {
  const { ino, size, ctimeMs } = statSync(built.file)
  return `${ino}:${size}:${ctimeMs}:${built.sha256}`
}

/** The bundle, if its directory is still private and its contents still hash to what was built. */
const verified = (built: Built | undefined): Built | undefined => {
  if (built === undefined || privateDirectory(dirname(built.file)) === undefined) return undefined
  try {
    // Hashing a bundle takes milliseconds; a file whose inode, size and change time are those of the bundle
    // this process last hashed has not been written since (any write moves its ctime, which no call can set).
    const stamp = stampOf(built)
    if (hashedStamps.get(built.file) === stamp) return built
    if (sha256(readFileSync(built.file)) !== built.sha256) return undefined
    hashedStamps.set(built.file, stamp)
    return built
  } catch {
    return undefined
  }
}

/**
 * Gives up on a bundle a child could not load (it died before it said a
 * word): later children with the same modules start unbundled, and later
 * processes build the bundle again.
 */
export const distrust = (modules: ReadonlyArray<string>): void => {
  memo.set([...modules].sort().join("\n"), Promise.resolve(undefined))
  const directory = privateCacheDirectory()
  if (directory === undefined) return
  try {
    rmSync(manifestFor(directory, modules), { force: true })
  } catch {}
}

/**
 * The path of a bundle with the runner and `modules` (file URLs), checked
 * just now (private directory, content hash), or `undefined` when the child
 * should start unbundled. A bundle that fails the check is built again for
 * the next child.
 */
export const bundleFor = (modules: ReadonlyArray<string>): Promise<string | undefined> => {
  const key = [...modules].sort().join("\n")
  let bundle = memo.get(key)
  if (bundle === undefined) {
    bundle = load(modules).catch(() => undefined)
    memo.set(key, bundle)
  }
  return bundle.then((built) => {
    const checked = verified(built)
    if (built !== undefined && checked === undefined && memo.get(key) === bundle) memo.delete(key)
    return checked?.file
  })
}

let builds = 0

/**
 * How many builds this process has started (bundles taken from disk do not count).
 *
 * @internal For tests.
 */
export const buildsStarted = (): number => builds

const load = async (modules: ReadonlyArray<string>): Promise<Built | undefined> => {
  const directory = privateCacheDirectory()
  if (directory === undefined) return undefined
  const manifest = manifestFor(directory, modules)
  return reuse(manifest) ?? build(modules, manifest)
}

const runnerModule = () => fileURLToPath(import.meta.resolve("@troupe/core/ChildRunner"))

interface Manifest {
  readonly bundle: string
  /** The SHA-256 of the bundle's contents, as built. */
  readonly sha256: string
  readonly inputs: ReadonlyArray<{ readonly file: string; readonly mtimeMs: number; readonly size: number }>
}

/** The manifest's path: its key covers what shapes the bundle besides the input files. */
const manifestFor = (directory: string, modules: ReadonlyArray<string>): string => {
  const self = fileURLToPath(import.meta.url)
  const { mtimeMs, size } = statSync(self)
  // esbuild's version from its package.json: importing esbuild is the cost a reused bundle saves.
  const esbuild = JSON.parse(readFileSync(createRequire(self).resolve("esbuild/package.json"), "utf8")).version
  const key = JSON.stringify([[...modules].sort(), runnerModule(), process.version, esbuild, self, mtimeMs, size])
  return join(directory, `manifest-${sha256(key).slice(0, 20)}.json`)
}

/** The bundle the manifest names, if its contents and every file it was built from are unchanged. */
const reuse = (manifest: string): Built | undefined => {
  try {
    const { bundle, sha256, inputs } = JSON.parse(readFileSync(manifest, "utf8")) as Manifest
    if (dirname(bundle) !== dirname(manifest) || typeof sha256 !== "string") return undefined
    statSync(`${bundle}.map`)
    const unchanged = inputs.every((input) => {
      const stats = statSync(input.file)
      return stats.mtimeMs === input.mtimeMs && stats.size === input.size
    })
    const taken = unchanged ? verified({ file: bundle, sha256 }) : undefined
    // Its last use, for `prune`.
    if (taken !== undefined) touch(manifest)
    return taken
  } catch {
    return undefined
  }
}

const touch = (file: string): void => {
  try {
    const now = new Date()
    utimesSync(file, now, now)
  } catch {}
}

const day = 24 * 60 * 60 * 1000
/** A manifest unused for this long is pruned. */
const unusedFor = 7 * day
/** At most this many manifests are kept, the ones used last. */
const manifestsKept = 32
/**
 * A file no kept manifest names is pruned once it is this old: a bundle is written before its manifest (a build in
 * another process may be between the two), and a build that saw an input change keeps its bundle without one.
 */
const orphanedFor = 60 * 60 * 1000

/**
 * Removes from the cache directory what no program is likely to take
 * again: manifests unused for a week or past the 32 used last, then the
 * bundles, source maps and partial writes that no remaining manifest names
 * and that are over an hour old, and compile-cache entries unused for a
 * week (Node writes an entry again when it needs it). Runs after a build,
 * whose cost hides its own; any error leaves the file where it is.
 */
export const prune = (directory: string, now = Date.now()): void => {
  const entries = (path: string) => {
    try {
      return readdirSync(path, { withFileTypes: true })
    } catch {
      return []
    }
  }
  const remove = (path: string) => {
    try {
      rmSync(path, { force: true })
    } catch {}
  }
  const ageOf = (path: string): number | undefined => {
    try {
      return now - statSync(path).mtimeMs
    } catch {
      return undefined
    }
  }
  const manifests = entries(directory)
    .filter((entry) => entry.isFile() && /^manifest-[0-9a-f]+\.json$/.test(entry.name))
    .map((entry) => ({ path: join(directory, entry.name), age: ageOf(join(directory, entry.name)) ?? 0 }))
    .sort((a, b) => a.age - b.age)
  const named = new Set<string>()
  manifests.forEach(({ path, age }, index) => {
    if (age > unusedFor || index >= manifestsKept) {
      remove(path)
      return
    }
    try {
      named.add((JSON.parse(readFileSync(path, "utf8")) as Manifest).bundle)
    } catch {}
  })
  for (const entry of entries(directory)) {
    const match = /^(child-[0-9a-f]+\.mjs)(\.map)?(\.\d+\.tmp)?$/.exec(entry.name)
    if (!entry.isFile() || match === null || named.has(join(directory, match[1]!))) continue
    const path = join(directory, entry.name)
    if ((ageOf(path) ?? 0) > orphanedFor) remove(path)
  }
  const compileCache = join(directory, "compile-cache")
  for (const version of entries(compileCache)) {
    if (!version.isDirectory()) continue
    for (const entry of entries(join(compileCache, version.name))) {
      const path = join(compileCache, version.name, entry.name)
      if (entry.isFile() && (ageOf(path) ?? 0) > unusedFor) remove(path)
    }
  }
}

/** Writes under a unique name, then renames: no reader sees a half-written file. */
const writeAtomically = (file: string, contents: string): void => {
  const partial = `${file}.${process.pid}.tmp`
  writeFileSync(partial, contents, { mode: 0o600 })
  renameSync(partial, file)
}

/**
 * Runs before any bundled code: tells `Task.make` the bundle's URL (its tasks are registered under it; see
 * Task.ts), and resolves a specifier from the original module's location (the bundle lives elsewhere).
 */
const resolveHelper = `globalThis[Symbol.for("@troupe/core/Task/bundle")] = import.meta.url
import { createRequire as __troupeCreateRequire } from "node:module"
const __troupeResolve = (parent, specifier) => {
  try {
    return new URL(specifier, parent).protocol === "file:" && /^\\.{0,2}\\//.test(specifier)
      ? new URL(specifier, parent).href
      : "file://" + __troupeCreateRequire(parent).resolve(specifier)
  } catch {
    return import.meta.resolve(specifier)
  }
}`

const rewriteImportMeta = (source: string, file: string): string =>
  source
    .replaceAll("import.meta.resolve(", `__troupeResolve(${JSON.stringify(pathToFileURL(file).href)}, `)
    .replaceAll("import.meta.url", JSON.stringify(pathToFileURL(file).href))
    .replaceAll("import.meta.filename", JSON.stringify(file))
    .replaceAll("import.meta.dirname", JSON.stringify(dirname(file)))
    .replaceAll("import.meta.main", "false")

/** Builds in flight: esbuild's service stops when the last one ends. */
let building = 0

const build = async (modules: ReadonlyArray<string>, manifest: string): Promise<Built> => {
  builds++
  const esbuild = await import("esbuild")
  const directory = dirname(manifest)
  const runner = runnerModule()
  // Troupe's own sources need no rewriting (and must not get it: they spell these names in strings).
  const ownRoots = [dirname(dirname(runner)), dirname(dirname(dirname(fileURLToPath(import.meta.url))))]
  const isOwn = (file: string) => ownRoots.some((root) => file.startsWith(`${root}/`))
  const externals = new Set<string>()
  const entry = [
    `export * from ${JSON.stringify(runner)}`,
    ...modules.map((module) => `import ${JSON.stringify(fileURLToPath(module))}`)
  ].join("\n")
  const workingDirectory = process.cwd()
  const started = Date.now()
  building++
  const result = await esbuild
    .build({
      stdin: { contents: entry, resolveDir: workingDirectory, loader: "js", sourcefile: "troupe-child.js" },
      absWorkingDir: workingDirectory,
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node22",
      write: false,
      metafile: true,
      // Stack traces from a child name the original files and lines (the child enables source maps).
      sourcemap: "linked",
      sourcesContent: false,
      outdir: directory,
      logLevel: "silent",
      banner: { js: resolveHelper },
      plugins: [
        {
          name: "troupe-child",
          setup(build) {
            build.onResolve({ filter: /^[^./]/ }, async (args) => {
              if (args.pluginData === "resolving" || args.path.startsWith("node:") || bundledPackages.test(args.path)) {
                return undefined
              }
              const resolved = await build.resolve(args.path, {
                kind: args.kind,
                resolveDir: args.resolveDir,
                importer: args.importer,
                pluginData: "resolving"
              })
              if (resolved.errors.length > 0 || resolved.external) return { path: args.path, external: true }
              externals.add(resolved.path)
              return { path: pathToFileURL(resolved.path).href, external: true }
            })
            build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
              if (args.path.includes("/node_modules/") || isOwn(args.path)) return undefined
              const loader = /\.[cm]?ts$/.test(args.path) ? "ts" : "js"
              return { contents: rewriteImportMeta(readFileSync(args.path, "utf8"), args.path), loader }
            })
          }
        }
      ]
    })
    .finally(() => {
      // An idle pool keeps no esbuild process; the next build starts one again.
      if (--building === 0) void esbuild.stop()
    })
  const code = result.outputFiles.find((output) => output.path.endsWith(".js"))!.text
  const map = result.outputFiles.find((output) => output.path.endsWith(".js.map"))!.text
  const name = `child-${createHash("sha256").update(code).update(map).digest("hex").slice(0, 20)}`
  const file = join(directory, `${name}.mjs`)
  const comment = code.lastIndexOf("//# sourceMappingURL=")
  const contents = `${code.slice(0, comment)}//# sourceMappingURL=${name}.mjs.map\n`
  const built: Built = { file, sha256: sha256(contents) }
  // Written unless the same bundle is already there (a file with this name but other contents is replaced).
  if (verified(built) === undefined) {
    // The map first: a bundle on disk always has its map.
    writeAtomically(`${file}.map`, map)
    writeAtomically(file, contents)
    // Just written from `contents`: no need to read it back to hash it.
    hashedStamps.set(file, stampOf(built))
  }
  const inputs: Array<Manifest["inputs"][number]> = []
  for (const input of [...Object.keys(result.metafile.inputs), ...externals]) {
    if (input === "<stdin>") continue
    try {
      const path = resolve(workingDirectory, input)
      const stats = statSync(path)
      if (stats.isFile()) inputs.push({ file: path, mtimeMs: stats.mtimeMs, size: stats.size })
    } catch {}
  }
  // A file edited during the build may not be in the bundle: the next process builds again.
  if (inputs.every((input) => input.mtimeMs < started)) {
    writeAtomically(manifest, JSON.stringify({ bundle: file, sha256: built.sha256, inputs } satisfies Manifest))
  }
  prune(directory)
  return built
}
