/**
 * Runs every example as a newcomer would (`node examples/<name>.ts`) and
 * checks what it prints.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"

const runExample = (name: string) =>
  new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    const script = fileURLToPath(new URL(`../${name}.ts`, import.meta.url))
    execFile(process.execPath, [script], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error === null ? 0 : ((error as { code?: number }).code ?? null) })
    })
  })

it("process.ts: the child's message, then the parent's", async () => {
  const { code, stdout } = await runExample("process")
  expect(code).toBe(0)
  expect(stdout).toBe("This is a message from a multiprocessing.\nMain process continues.\n")
})

it("four-processes.ts: four numbered lines, in any order", async () => {
  const { code, stdout } = await runExample("four-processes")
  expect(code).toBe(0)
  expect(stdout.trimEnd().split("\n").sort()).toEqual(["Process 1: 1", "Process 2: 2", "Process 3: 3", "Process 4: 4"])
})
