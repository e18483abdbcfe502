/**
 * S46: when the parent dies, even by SIGKILL, its children and their
 * grandchildren exit by themselves within 2 s. Checked with the operating
 * system, not with Troupe's bookkeeping.
 */
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { survivorsAfter } from "./fixtures/os.ts"
import { runScript } from "./fixtures/script.ts"

it("S46 children and grandchildren exit within 2 s of the parent's SIGKILL", async () => {
  const { signal, stdout } = await runScript(fileURLToPath(new URL("./fixtures/orphanParent.ts", import.meta.url)))
  expect(signal).toBe("SIGKILL")
  const pids: { children: Array<number>; grandchildren: Array<number> } = JSON.parse(stdout)
  expect(pids.children).toHaveLength(4)
  expect(pids.grandchildren).toHaveLength(4)
  expect(pids.grandchildren.every((pid) => Number.isInteger(pid) && pid > 0)).toBe(true)
  expect(await survivorsAfter([...pids.children, ...pids.grandchildren], 2000)).toEqual([])
})
