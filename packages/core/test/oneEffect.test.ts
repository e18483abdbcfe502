/**
 * One `effect`: a task whose schemas come from a second copy of `effect`
 * fails at definition with a message naming both copies, instead of its
 * payloads being refused later ("Expected an integer").
 */
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Task from "../src/Task.ts"

const effectFolder = dirname(dirname(createRequire(import.meta.url).resolve("effect")))

describe("one effect", () => {
  it("a task defined with a Schema from a second copy of effect fails, naming both copies", () => {
    const app = mkdtempSync(join(tmpdir(), "troupe-two-effects-"))
    try {
      // A real copy (a symlink would resolve to the same files, hence the same copy).
      const copy = join(app, "node_modules", "effect")
      mkdirSync(copy, { recursive: true })
      cpSync(join(effectFolder, "package.json"), join(copy, "package.json"))
      cpSync(join(effectFolder, "dist"), join(copy, "dist"), { recursive: true })
      cpSync(fileURLToPath(new URL("./fixtures/secondEffect.mjs", import.meta.url)), join(app, "main.mjs"))
      const core = new URL("../src/index.ts", import.meta.url).href
      const run = spawnSync(process.execPath, [join(app, "main.mjs"), core], { encoding: "utf8", timeout: 30_000 })
      expect(run.stdout).not.toContain("defined")
      expect(run.stderr).toContain('Task.make("TwoCopies") uses a Schema from another copy of effect')
      expect(run.stderr).toContain(`resolves effect at ${realpathSync(copy)}`)
      expect(run.stderr).toContain(`@troupe/core resolves effect at ${realpathSync(effectFolder)}`)
    } finally {
      rmSync(app, { recursive: true, force: true })
    }
  })

  it("a task with this copy's schemas is defined as before", () => {
    const task = Task.make("OneCopy", {
      payload: { n: Schema.Int },
      success: Schema.Int,
      handler: ({ n }) => Effect.succeed(n)
    })
    expect(task.name).toBe("OneCopy")
  })
})
