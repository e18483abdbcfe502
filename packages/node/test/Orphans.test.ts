/**
 * S46: when the parent dies, even by SIGKILL, its children and their
 * grandchildren exit by themselves within 2 s. Checked with the operating
 * system, not with Troupe's bookkeeping.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { survivorsAfter } from "./fixtures/os.ts"

const runUntilKilled = (script: string) =>
  new Promise<{ stdout: string; signal: NodeJS.Signals | null }>((resolve) => {
    execFile(process.execPath, [script], { timeout: 60_000 }, (error, stdout) => {
      resolve({ stdout, signal: (error as { signal?: NodeJS.Signals } | null)?.signal ?? null })
    })
  })

it("S46 children and grandchildren exit within 2 s of the parent's SIGKILL", async () => {
  const { signal, stdout } = await runUntilKilled(fileURLToPath(new URL("./fixtures/orphanParent.ts", import.meta.url)))
  expect(signal).toBe("SIGKILL")
  const pids: { children: Array<number>; grandchildren: Array<number> } = JSON.parse(stdout)
  expect(pids.children).toHaveLength(4)
  expect(pids.grandchildren).toHaveLength(4)
  expect(pids.grandchildren.every((pid) => Number.isInteger(pid) && pid > 0)).toBe(true)
  expect(await survivorsAfter([...pids.children, ...pids.grandchildren], 2000)).toEqual([])
})
