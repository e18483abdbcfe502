/**
 * Orphans (S46): a parent program with a pool of 4 and an actor tree, every
 * child with a grandchild, is SIGKILLed; within 2 s none of its descendants
 * is alive. The descendants are found in /proc before the kill, not taken
 * from the library's bookkeeping.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { onTestFinished } from "vitest"
import { descendants, survivorsAfter } from "./fixtures/os.ts"
import { report } from "./report.ts"

interface Reported {
  readonly poolWorkers: Array<number>
  readonly poolGrandchildren: Array<number>
  readonly actors: Array<number>
  readonly actorGrandchildren: Array<number>
}

/** Starts the parent program and resolves with its pid and its first stdout line. */
const startParent = () =>
  new Promise<{ readonly pid: number; readonly reported: Reported }>((resolve, reject) => {
    const file = fileURLToPath(new URL("./fixtures/orphanParent.ts", import.meta.url))
    const child = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "inherit"] })
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
    let stdout = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
      const newline = stdout.indexOf("\n")
      if (newline >= 0) resolve({ pid: child.pid!, reported: JSON.parse(stdout.slice(0, newline)) })
    })
    child.on("close", (code, signal) => reject(new Error(`the parent ended early: ${code ?? signal}`)))
  })

it("S46 a SIGKILLed parent with a pool of 4 and an actor tree leaves no descendant alive after 2 s", async () => {
  const { pid, reported } = await startParent()
  const found = descendants(pid)
  const known = [
    ...reported.poolWorkers,
    ...reported.poolGrandchildren,
    ...reported.actors,
    ...reported.actorGrandchildren
  ]
  for (const child of known) expect(found).toContain(child)
  expect(new Set(reported.poolWorkers).size).toBe(4)
  expect(new Set(reported.poolGrandchildren).size).toBe(4)
  expect(new Set(reported.actorGrandchildren).size).toBe(7)
  process.kill(pid, "SIGKILL")
  const killed = Date.now()
  const survivors = await survivorsAfter(found, 2000)
  const goneMs = Date.now() - killed
  report("orphans", { descendants: found.length, survivors: survivors.length, allGoneMs: goneMs })
  expect(survivors).toEqual([])
}, 60_000)
