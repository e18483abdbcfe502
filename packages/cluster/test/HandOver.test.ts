/**
 * `Keyed.handOver`, which a runner calls when a key's entity comes or goes:
 * once it returns, the key's instance is stopped, even when the instance was
 * still starting and the message that started it had been abandoned (an
 * entity interrupted mid-activation, as when the cluster loses its database
 * sessions). Before, the starting instance was left running unowned in its
 * host, and the key's next message started a second one next to it.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Keyed } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Effect, Exit } from "effect"
import { expect, it } from "vitest"
import { readActivations } from "./fixtures/harness.ts"
import { SlowStartBehaviour } from "./fixtures/slowStart.ts"

it("handOver stops an instance that was still starting when its message was abandoned", async () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-handover-"))
  const log = join(dir, "activations.jsonl")
  const count = (event: "start" | "stop") => readActivations(log).filter((entry) => entry.event === event).length
  try {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const keyed = yield* Keyed.make(SlowStartBehaviour, {
          hosts: 1,
          env: { ...process.env, TROUPE_ACTIVATIONS: log }
        })
        // Abandoned while its instance builds (300 ms): the cell is idle, its instance still starting.
        const abandoned = yield* Effect.exit(Effect.timeout(keyed.get("k").ask("Get", undefined), "50 millis"))
        yield* keyed.handOver("k", undefined)
        const afterHandOver = { starts: count("start"), stops: count("stop") }
        const pid = yield* keyed.get("k").ask("Get", undefined)
        yield* keyed.handOver("k", undefined)
        return { abandoned, afterHandOver, pid, starts: count("start"), stops: count("stop") }
      }).pipe(Effect.scoped, Effect.provide(NodeProcess.layer))
    )
    expect(Exit.isFailure(result.abandoned)).toBe(true)
    // The instance that was starting has started and been stopped by the time handOver returned.
    expect(result.afterHandOver).toEqual({ starts: 1, stops: 1 })
    // The next message started one new instance, stopped by the second handOver: never two at once.
    expect({ starts: result.starts, stops: result.stops }).toEqual({ starts: 2, stops: 2 })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
