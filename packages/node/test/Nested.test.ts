/**
 * Nested Troupe: a task that itself starts a `Process` or a pool, from a
 * worker started from a bundle (the default when the task modules are
 * known). The child entry points must be the real files, not paths next to
 * the bundle in its temporary directory.
 */
import { describe, expect, it } from "@effect/vitest"
import { Process } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Effect } from "effect"
import * as Nested from "./fixtures/nested.ts"

describe("nested processes and pools from bundled workers", () => {
  for (const backend of ["process", "thread"] as const) {
    it.live(
      `Process -> ${backend} pool -> Process: every level answers`,
      () =>
        Effect.gen(function* () {
          const levels = yield* Process.run(Nested.Top, { backend, n: 1 }).pipe(
            Effect.timeout("50 seconds"),
            Effect.provide(NodeProcess.layer)
          )
          expect(levels.map((level) => level.value)).toEqual([1, 2, 6])
          // The first level ran from a bundle: there `import.meta.url`, and a task's call site, are the bundle's.
          expect(levels[0]?.bundled).toBe(true)
        }),
      90_000
    )
  }
})
