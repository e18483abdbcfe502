/**
 * Fast child start: one tree-shaken ES module holding the child runner and
 * the task modules a worker will serve.
 *
 * A child's start-up time is module loading: the runner and a task module
 * pull in a few hundred files of `effect`, which takes a child 250-400 ms of
 * CPU. Bundled with esbuild and tree-shaken, the same code loads in about
 * 20-30 ms, so workers start, and crashed workers come back, several times
 * faster. The parent builds one bundle per set of task modules (memoized),
 * writes it under the temporary directory, and the child imports it.
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
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const bundledPackages = /^(effect(\/|$)|@effect\/|@troupe\/)/

const memo = new Map<string, Promise<string | undefined>>()

/**
 * Gives up on a bundle a child could not load (it died before it said a
 * word): later children with the same modules start unbundled.
 */
export const distrust = (modules: ReadonlyArray<string>): void => {
  memo.set([...modules].sort().join("\n"), Promise.resolve(undefined))
}

/**
 * The path of a bundle with the runner and `modules` (file URLs), or
 * `undefined` when the child should start unbundled.
 */
export const bundleFor = (modules: ReadonlyArray<string>): Promise<string | undefined> => {
  const key = [...modules].sort().join("\n")
  let bundle = memo.get(key)
  if (bundle === undefined) {
    bundle = build(modules).catch(() => undefined)
    memo.set(key, bundle)
  }
  return bundle
}

/** Resolves a specifier from the original module's location (the bundle lives elsewhere). */
const resolveHelper = `import { createRequire as __troupeCreateRequire } from "node:module"
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

const build = async (modules: ReadonlyArray<string>): Promise<string> => {
  const esbuild = await import("esbuild")
  const directory = join(tmpdir(), "troupe-bundles")
  mkdirSync(directory, { recursive: true })
  const runnerModule = fileURLToPath(import.meta.resolve("@troupe/core/ChildRunner"))
  // Troupe's own sources need no rewriting (and must not get it: they spell these names in strings).
  const ownRoots = [dirname(dirname(runnerModule)), dirname(dirname(dirname(fileURLToPath(import.meta.url))))]
  const isOwn = (file: string) => ownRoots.some((root) => file.startsWith(`${root}/`))
  const entry = [
    `export * from ${JSON.stringify(runnerModule)}`,
    ...modules.map((module) => `import ${JSON.stringify(fileURLToPath(module))}`)
  ].join("\n")
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: process.cwd(), loader: "js", sourcefile: "troupe-child.js" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node22",
    write: false,
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
  const code = result.outputFiles.find((output) => output.path.endsWith(".js"))!.text
  const map = result.outputFiles.find((output) => output.path.endsWith(".js.map"))!.text
  const name = `child-${createHash("sha256").update(code).update(map).digest("hex").slice(0, 20)}`
  const file = join(directory, `${name}.mjs`)
  if (!existsSync(file)) {
    // Written under unique names, then renamed: a child never reads a half-written bundle.
    const partial = `${file}.${process.pid}.tmp`
    writeFileSync(`${join(directory, name)}.mjs.map`, map)
    const comment = code.lastIndexOf("//# sourceMappingURL=")
    writeFileSync(partial, `${code.slice(0, comment)}//# sourceMappingURL=${name}.mjs.map\n`)
    renameSync(partial, file)
  }
  return file
}
