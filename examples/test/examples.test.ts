/**
 * Runs every example as a newcomer would (`node examples/<name>.ts`) and
 * checks what it prints.
 */
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { runScript } from "../../packages/node/test/fixtures/script.ts"

const runExample = (name: string, args: ReadonlyArray<string> = []) =>
  runScript(fileURLToPath(new URL(`../${name}.ts`, import.meta.url)), args)

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

it("pool-squares.ts: the squares, exactly", async () => {
  const { code, stdout } = await runExample("pool-squares")
  expect(code).toBe(0)
  expect(stdout).toBe("Squared numbers: [1, 4, 9, 16, 25]\n")
})
