/**
 * S46 and the orphan guards (the reaper, the start check): when the parent dies, even by SIGKILL, its
 * children and their grandchildren exit by themselves, whatever the
 * children are doing (spinning in a synchronous loop, stuck importing a
 * task module) and however early the parent died (right after the fork,
 * before the child armed any guard). Checked with the operating system
 * (/proc), not with Troupe's bookkeeping.
 */
import { readFileSync } from "node:fs"
import { expect, it } from "@effect/vitest"
import { isRunning, survivorsAfter } from "./fixtures/os.ts"
import { fixture, leftOf, orphanBoundMs, startProgram, waitFor } from "./fixtures/program.ts"
import { runScript } from "./fixtures/script.ts"

it("S46 children and grandchildren exit within 2 s of the parent's SIGKILL", async () => {
  const { signal, stdout } = await runScript(fixture("orphanParent.ts"))
  expect(signal).toBe("SIGKILL")
  const pids: { children: Array<number>; grandchildren: Array<number> } = JSON.parse(stdout)
  expect(pids.children).toHaveLength(4)
  expect(pids.grandchildren).toHaveLength(4)
  expect(pids.grandchildren.every((pid) => Number.isInteger(pid) && pid > 0)).toBe(true)
  expect(await survivorsAfter([...pids.children, ...pids.grandchildren], 2000)).toEqual([])
})

for (const signal of ["SIGKILL", "SIGTERM"] as const) {
  it(`a plain Effect.runPromise parent ${signal}ed while its 2 pool workers spin in a synchronous loop leaves no worker alive`, async () => {
    const program = startProgram(fixture("signalParent.ts"), ["runPromise"])
    const { workers } = JSON.parse(await program.nextLine()) as { workers: Array<number> }
    expect(workers).toHaveLength(2)
    expect(workers.every(isRunning)).toBe(true)
    process.kill(program.pid, signal)
    const killed = Date.now()
    expect(await program.exited).toEqual({ code: null, signal })
    const survivors = await survivorsAfter(workers, orphanBoundMs)
    console.log(`workers gone ${Date.now() - killed} ms after the parent's ${signal}`)
    expect(survivors).toEqual([])
    expect(await leftOf(program)).toEqual([])
  }, 120_000)
}

it("a parent SIGKILLed while its child is stuck importing a spinning task module: the child and its grandchild exit", async () => {
  const program = startProgram(fixture("orphanChain.ts"), [])
  const read = () => {
    try {
      return readFileSync(program.marker, "utf8").trim()
    } catch {
      return ""
    }
  }
  expect(await waitFor(() => read() !== "", 60_000)).toBe(true)
  const [child, grandchild] = read().split(" ").map(Number)
  expect(isRunning(child!) && isRunning(grandchild!)).toBe(true)
  process.kill(program.pid, "SIGKILL")
  await program.exited
  expect(await survivorsAfter([child!, grandchild!], orphanBoundMs)).toEqual([])
  expect(await leftOf(program)).toEqual([])
}, 120_000)

it("a parent that dies right after the fork, before its child armed any guard: no process of the chain is left, none with parent pid 1", async () => {
  const program = startProgram(fixture("orphanChain.ts"), ["at-fork"])
  expect(await program.exited).toEqual({ code: null, signal: "SIGKILL" })
  expect(await leftOf(program)).toEqual([])
}, 120_000)
