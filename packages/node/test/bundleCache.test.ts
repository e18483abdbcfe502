/**
 * The child bundle's on-disk cache: a fresh parent process takes the bundle
 * an earlier one built, without building, until an input file, the bundle,
 * or trust in it changes. Each case has its own cache directory
 * (`TROUPE_BUNDLE_DIR`) and its own task module in a temporary directory.
 * The cache is trusted only as far as it is private and its bundles hash to
 * what was built (issue 13, item 13), and an unusable cache only costs the
 * bundle (issue 17).
 */
import { spawnSync } from "node:child_process"
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { bundleFor, distrust, prune } from "../src/internal/bundle.ts"
import { runScript } from "./fixtures/script.ts"

const roots: Array<string> = []

afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

interface Run {
  readonly path: string | undefined
  readonly builds: number
}

/** A task module and a cache directory of their own, and a way to ask a fresh process for the bundle. */
const setup = () => {
  const root = mkdtempSync(join(tmpdir(), "troupe-bundle-cache-"))
  roots.push(root)
  const cache = join(root, "cache")
  const module = join(root, "task.mjs")
  writeFileSync(module, "export const answer = 42\n")
  const script = join(root, "parent.mjs")
  writeFileSync(
    script,
    `const { bundleFor, buildsStarted } = await import(process.argv[2])
const path = await bundleFor([process.argv[3]])
console.log(JSON.stringify({ path, builds: buildsStarted() }))
`
  )
  const bundleModule = new URL("../src/internal/bundle.ts", import.meta.url).href
  const freshProcess = (env: Record<string, string> = {}): Run => {
    const child = spawnSync(process.execPath, [script, bundleModule, pathToFileURL(module).href], {
      env: { ...process.env, TROUPE_BUNDLE_DIR: cache, ...env },
      encoding: "utf8"
    })
    expect(child.status, child.stderr).toBe(0)
    return JSON.parse(child.stdout.trim().split("\n").at(-1)!)
  }
  return { root, cache, module, freshProcess }
}

describe("bundle cache", () => {
  it("a second fresh process gets the same bundle without building", () => {
    const { freshProcess } = setup()
    const first = freshProcess()
    expect(first.builds).toBe(1)
    expect(first.path).toBeDefined()
    expect(freshProcess()).toEqual({ path: first.path, builds: 0 })
  })

  it("a touched input file makes the next process build again", () => {
    const { module, freshProcess } = setup()
    const first = freshProcess()
    utimesSync(module, new Date(2000, 0, 1), new Date(2000, 0, 1))
    // Same contents, so the same bundle; the manifest is rewritten with the new mtime.
    expect(freshProcess()).toEqual({ path: first.path, builds: 1 })
    expect(freshProcess()).toEqual({ path: first.path, builds: 0 })
  })

  it("a manifest whose bundle was deleted makes the next process build again", () => {
    const { freshProcess } = setup()
    const first = freshProcess()
    rmSync(first.path!)
    expect(freshProcess()).toEqual({ path: first.path, builds: 1 })
    expect(existsSync(first.path!)).toBe(true)
  })

  it("a distrusted bundle comes back neither in this process nor from disk in the next", async () => {
    const { cache, module, freshProcess } = setup()
    const modules = [pathToFileURL(module).href]
    const previous = process.env.TROUPE_BUNDLE_DIR
    process.env.TROUPE_BUNDLE_DIR = cache
    try {
      const first = await bundleFor(modules)
      expect(first).toBeDefined()
      expect(readdirSync(cache).filter((file) => file.startsWith("manifest-"))).toHaveLength(1)
      distrust(modules)
      expect(await bundleFor(modules)).toBeUndefined()
      expect(readdirSync(cache).filter((file) => file.startsWith("manifest-"))).toHaveLength(0)
      expect(freshProcess()).toEqual({ path: first, builds: 1 })
    } finally {
      if (previous === undefined) delete process.env.TROUPE_BUNDLE_DIR
      else process.env.TROUPE_BUNDLE_DIR = previous
    }
  })
})

/** Code a hostile writer could append to a bundle: ES imports are hoisted, so it runs as soon as the bundle loads. */
const hostileCode = (marker: string) =>
  `\nimport { writeFileSync as __hostileWrite } from "node:fs"\n__hostileWrite(${JSON.stringify(marker)}, "ran")\n`

interface ParentResult {
  readonly bundle: string | undefined
  readonly bundled: boolean
  readonly squares: ReadonlyArray<number>
  readonly marker: boolean
}

/** Runs a parent whose pool starts from the cache in `cache` (see fixtures/bundleCacheParent.ts). */
const runParent = async (
  backend: string,
  cache: string,
  marker: string,
  code = "",
  ending = ""
): Promise<ParentResult> => {
  const previous = process.env.TROUPE_BUNDLE_DIR
  process.env.TROUPE_BUNDLE_DIR = cache
  try {
    const parent = fileURLToPath(new URL("./fixtures/bundleCacheParent.ts", import.meta.url))
    const { stdout, stderr, code: exitCode } = await runScript(parent, [backend, marker, code, ending])
    expect(exitCode, stderr).toBe(0)
    return JSON.parse(stdout.trim().split("\n").at(-1)!)
  } finally {
    if (previous === undefined) delete process.env.TROUPE_BUNDLE_DIR
    else process.env.TROUPE_BUNDLE_DIR = previous
  }
}

describe.each(["process", "thread"])("the bundle cache on %s: a bundle runs only as it was built", (backend) => {
  it("a bundle tampered with after it was built, in this process or on disk, never runs; the pool still works", async () => {
    const { root } = setup()
    const cache = join(root, "cache")
    const marker = join(root, "marker")
    // Tampered with between the build and the first worker's start, in the same parent.
    const first = await runParent(backend, cache, marker, hostileCode(marker))
    expect(first.bundle).toBeDefined()
    expect(first.squares).toEqual([1, 4, 9])
    expect(first.marker).toBe(false)
    // Tampered with on disk, where the next parent finds it through its manifest.
    appendFileSync(first.bundle!, hostileCode(marker))
    const second = await runParent(backend, cache, marker)
    expect(second).toMatchObject({ bundle: first.bundle, bundled: true, squares: [1, 4, 9], marker: false })
    expect(readFileSync(first.bundle!, "utf8")).not.toContain("__hostileWrite")
    expect(existsSync(marker)).toBe(false)
  }, 120_000)

  it("a worker keeps its compile cache in the private cache directory, even when it is killed with its parent", async () => {
    const { root } = setup()
    const cache = join(root, "cache")
    // The parent exits without closing its pool: no worker gets to write its cache as it exits.
    const result = await runParent(backend, cache, join(root, "marker"), "", "exit")
    expect(result).toMatchObject({ bundled: true, squares: [1, 4, 9] })
    const compiled = join(cache, "compile-cache")
    expect(statSync(compiled).isDirectory()).toBe(true)
    const files = readdirSync(compiled, { recursive: true, encoding: "utf8" }).filter((entry) =>
      statSync(join(compiled, entry)).isFile()
    )
    expect(files.length).toBeGreaterThan(0)
  }, 120_000)

  it("a cache directory that cannot be written falls back to unbundled workers, without a crash", async () => {
    const { root } = setup()
    const marker = join(root, "marker")
    const result = await runParent(backend, "/dev/null/troupe", marker)
    expect(result).toMatchObject({ bundled: false, squares: [1, 4, 9], marker: false })
    expect(result.bundle).toBeUndefined()
  }, 120_000)
})

describe("the bundle cache directory", () => {
  it("is created owner-only; one that others may write to, or that another user owns, is refused", () => {
    const { cache, freshProcess } = setup()
    const first = freshProcess()
    expect(first.path).toBeDefined()
    expect(statSync(cache).mode & 0o777).toBe(0o700)
    expect(statSync(first.path!).mode & 0o077).toBe(0)
    chmodSync(cache, 0o777)
    expect(freshProcess()).toEqual({ path: undefined, builds: 0 })
    chmodSync(cache, 0o720)
    expect(freshProcess()).toEqual({ path: undefined, builds: 0 })
    chmodSync(cache, 0o700)
    expect(freshProcess()).toEqual({ path: first.path, builds: 0 })
    if (process.getuid?.() === 0) {
      // Root can hand the directory to another user (nobody): a directory it does not own is not used.
      chownSync(cache, 65534, 65534)
      expect(freshProcess()).toEqual({ path: undefined, builds: 0 })
    }
  })

  it("defaults to $XDG_CACHE_HOME/troupe, then to a private directory in the temporary directory named with the uid", () => {
    const { root, freshProcess } = setup()
    const xdg = join(root, "xdg")
    const inXdg = freshProcess({ TROUPE_BUNDLE_DIR: "", XDG_CACHE_HOME: xdg })
    expect(dirname(inXdg.path!)).toBe(join(xdg, "troupe"))
    expect(statSync(join(xdg, "troupe")).mode & 0o777).toBe(0o700)
    const temporary = join(root, "tmp")
    mkdirSync(temporary)
    const fallback = freshProcess({ TROUPE_BUNDLE_DIR: "", XDG_CACHE_HOME: "/dev/null", TMPDIR: temporary })
    expect(dirname(fallback.path!)).toBe(join(temporary, `troupe-bundles-${process.getuid?.()}`))
  })

  it("a build prunes manifests unused for a week and the bundles no manifest names; taking a bundle marks it used", () => {
    const { cache, module, freshProcess } = setup()
    const first = freshProcess()
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 60 * 60 * 1000)
    const plant = (name: string, contents: string, age: Date) => {
      writeFileSync(join(cache, name), contents, { mode: 0o600 })
      utimesSync(join(cache, name), age, age)
    }
    const manifestOf = (bundle: string) => JSON.stringify({ bundle: join(cache, bundle), sha256: "x", inputs: [] })
    // Another program's bundle, last used 8 days ago; one used yesterday, built long ago.
    plant("manifest-aaaa.json", manifestOf("child-aaaa.mjs"), daysAgo(8))
    plant("child-aaaa.mjs", "", daysAgo(8))
    plant("child-aaaa.mjs.map", "", daysAgo(8))
    plant("manifest-dddd.json", manifestOf("child-dddd.mjs"), daysAgo(1))
    plant("child-dddd.mjs", "", daysAgo(30))
    plant("child-dddd.mjs.map", "", daysAgo(30))
    // Named by no manifest: two hours old (a bundle from an earlier edit, a crashed write), and a minute old.
    plant("child-bbbb.mjs", "", daysAgo(2 / 24))
    plant("child-bbbb.mjs.123.tmp", "", daysAgo(2 / 24))
    plant("child-cccc.mjs", "", daysAgo(1 / 24 / 60))
    const compileCache = join(cache, "compile-cache", "v0")
    mkdirSync(compileCache, { recursive: true })
    writeFileSync(join(compileCache, "old"), "")
    utimesSync(join(compileCache, "old"), daysAgo(8), daysAgo(8))
    writeFileSync(join(compileCache, "new"), "")
    // The same program's manifest, last taken 8 days ago: taking it marks it used, so it survives the build below.
    const own = readdirSync(cache).find((name) => name.startsWith("manifest-") && name.length > 24)!
    utimesSync(join(cache, own), daysAgo(8), daysAgo(8))
    expect(freshProcess()).toEqual({ path: first.path, builds: 0 })
    expect(Date.now() - statSync(join(cache, own)).mtimeMs).toBeLessThan(24 * 60 * 60 * 1000)

    // A changed task module: a build, and the pruning after it.
    appendFileSync(module, "export const more = 1\n")
    const second = freshProcess()
    expect(second.builds).toBe(1)
    const left = readdirSync(cache).sort()
    for (const gone of ["manifest-aaaa.json", "child-aaaa.mjs", "child-aaaa.mjs.map", "child-bbbb.mjs"]) {
      expect(left).not.toContain(gone)
    }
    expect(left).not.toContain("child-bbbb.mjs.123.tmp")
    for (const kept of ["manifest-dddd.json", "child-dddd.mjs", "child-dddd.mjs.map", "child-cccc.mjs", own]) {
      expect(left).toContain(kept)
    }
    // The first bundle is named by no manifest now (the key's manifest names the new one), but is minutes old.
    expect(left).toContain(first.path!.split("/").at(-1))
    expect(left).toContain(second.path!.split("/").at(-1))
    expect(readdirSync(compileCache)).toEqual(["new"])
    // And the next process takes the new bundle.
    expect(freshProcess()).toEqual({ path: second.path, builds: 0 })
  })

  it("keeps the 32 manifests used last, and the bundles they name", () => {
    const directory = mkdtempSync(join(tmpdir(), "troupe-prune-"))
    roots.push(directory)
    const now = Date.now()
    for (let i = 0; i < 40; i++) {
      // Manifest i was last used i minutes ago; each names a bundle built a day ago.
      const age = new Date(now - i * 60 * 1000)
      const old = new Date(now - 24 * 60 * 60 * 1000)
      const bundle = join(directory, `child-${i.toString(16).padStart(4, "0")}.mjs`)
      writeFileSync(join(directory, `manifest-${i.toString(16).padStart(4, "0")}.json`), JSON.stringify({ bundle }))
      utimesSync(join(directory, `manifest-${i.toString(16).padStart(4, "0")}.json`), age, age)
      writeFileSync(bundle, "")
      utimesSync(bundle, old, old)
    }
    prune(directory, now)
    const left = readdirSync(directory)
    const indexes = (prefix: string) =>
      left
        .filter((name) => name.startsWith(prefix))
        .map((name) => Number.parseInt(name.slice(prefix.length, prefix.length + 4), 16))
        .sort((a, b) => a - b)
    const newest = Array.from({ length: 32 }, (_, i) => i)
    expect(indexes("manifest-")).toEqual(newest)
    expect(indexes("child-")).toEqual(newest)
  })
})
