/**
 * The child bundle's on-disk cache: a fresh parent process takes the bundle
 * an earlier one built, without building, until an input file, the bundle,
 * or trust in it changes. Each case has its own cache directory
 * (`TROUPE_BUNDLE_DIR`) and its own task module in a temporary directory.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { bundleFor, distrust } from "../src/internal/bundle.ts"

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
  const freshProcess = (): Run => {
    const child = spawnSync(process.execPath, [script, bundleModule, pathToFileURL(module).href], {
      env: { ...process.env, TROUPE_BUNDLE_DIR: cache },
      encoding: "utf8"
    })
    expect(child.status, child.stderr).toBe(0)
    return JSON.parse(child.stdout.trim().split("\n").at(-1)!)
  }
  return { cache, module, freshProcess }
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
