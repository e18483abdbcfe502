/**
 * S46 and the orphan watchdog: when the parent dies, even by SIGKILL, its
 * children and their grandchildren exit by themselves, whatever the
 * children are doing (spinning in a synchronous loop, stuck importing a
 * task module) and however early the parent died (right after the fork,
 * before the child armed any guard). Checked with the operating system
 * (/proc), not with Troupe's bookkeeping.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { onTestFinished } from "vitest"
import { isRunning, parentOf, survivorsAfter, withEnvironment } from "./fixtures/os.ts"
import { tempFile } from "./fixtures/pool.ts"
import { runScript } from "./fixtures/script.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/** How long an orphan may live: the watchdog looks every 100 ms; the bound is generous for a busy machine. */
const orphanBoundMs = 5000

interface Program {
  readonly pid: number
  /** The marker every descendant inherits in its environment (`TROUPE_TEST_MARKER`), also a file children write to. */
  readonly marker: string
  readonly nextLine: () => Promise<string>
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Starts a fixture program as its own process (as a user would), SIGKILLed if still running when the test ends. */
const startProgram = (file: string, args: ReadonlyArray<string>): Program => {
  const marker = tempFile("marker")
  const child = spawn(process.execPath, [file, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, TROUPE_TEST_MARKER: marker }
  })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    // A failing run must not leave its orphans spinning on the machine.
    for (const pid of withEnvironment("TROUPE_TEST_MARKER", marker)) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {}
    }
  })
  let buffered = ""
  const waiting: Array<(line: string) => void> = []
  child.stdout.on("data", (chunk) => {
    buffered += chunk
    for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      waiting.shift()?.(line)
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  )
  return {
    pid: child.pid!,
    marker,
    nextLine: () => new Promise((resolve) => waiting.push(resolve)),
    exited
  }
}

/** Polls until `check` holds or `withinMs` passes. */
const waitFor = async (check: () => boolean, withinMs: number): Promise<boolean> => {
  const deadline = Date.now() + withinMs
  for (;;) {
    if (check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/**
 * Every process left of a program once it died: the ones still alive `orphanBoundMs` after `since`, found by the
 * marker in their environment (a program's orphans are no longer its descendants: pid 1 or a subreaper took them).
 * Also checks that none appears afterwards.
 */
const leftOf = async (program: Program) => {
  await waitFor(() => withEnvironment("TROUPE_TEST_MARKER", program.marker).length === 0, orphanBoundMs)
  const first = withEnvironment("TROUPE_TEST_MARKER", program.marker)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const later = withEnvironment("TROUPE_TEST_MARKER", program.marker)
  return [...new Set([...first, ...later])].map((pid) => ({ pid, parent: parentOf(pid) }))
}

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
  }, 60_000)
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
  expect(await waitFor(() => read() !== "", 30_000)).toBe(true)
  const [child, grandchild] = read().split(" ").map(Number)
  expect(isRunning(child!) && isRunning(grandchild!)).toBe(true)
  process.kill(program.pid, "SIGKILL")
  await program.exited
  expect(await survivorsAfter([child!, grandchild!], orphanBoundMs)).toEqual([])
  expect(await leftOf(program)).toEqual([])
}, 60_000)

it("a parent that dies right after the fork, before its child armed any guard: no process of the chain is left, none with parent pid 1", async () => {
  const program = startProgram(fixture("orphanChain.ts"), ["at-fork"])
  expect(await program.exited).toEqual({ code: null, signal: "SIGKILL" })
  expect(await leftOf(program)).toEqual([])
}, 60_000)
