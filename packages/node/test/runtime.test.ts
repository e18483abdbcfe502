/**
 * The toolchain promise: `npm test` runs on the pinned Node 24, and so do the
 * children it forks.
 */
import { expect, it } from "@effect/vitest"
import { Process } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Effect } from "effect"
import { NodeVersion } from "./fixtures/tasks.ts"

it.live("the tests and their forked children run on Node 24", () =>
  Effect.gen(function* () {
    expect(process.version).toMatch(/^v24\./)
    expect(yield* Process.run(NodeVersion, undefined)).toBe(process.version)
  }).pipe(Effect.provide(NodeProcess.layer))
)
