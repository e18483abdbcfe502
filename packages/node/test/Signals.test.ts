/**
 * Signals and shutdown (issue 13, item 14), on real parent programs with
 * real signals, checked in /proc. The parent (fixtures/signalParent.ts) runs
 * a `map` in a forked fiber on a pool of 2 whose workers spin in a
 * synchronous loop; its pool's drain deadline is 60 s, so a program that
 * waited for it would outlive the test's 20 s bound.
 *
 * - Under `NodeRuntime.runMain`, the first SIGTERM stops the pool at once
 *   (an interrupted scope does not drain): the `map` fails with
 *   `ShutdownError`, the workers are gone, the program exits.
 * - With `shutdown.onInterrupt: "drain"` the first signal drains; a second
 *   one (SIGINT after SIGTERM) forces the shutdown: the workers are killed
 *   now, the `map` fails with `ShutdownError`, the program exits.
 *
 * Both on forked processes and on worker threads (a thread is terminated
 * where a process is SIGKILLed; /proc checks apply to processes only). The
 * plain `Effect.runPromise` parent (no signal handling) is in
 * Orphans.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { isRunning, survivorsAfter } from "./fixtures/os.ts"
import { type Backend, backends } from "./fixtures/pool.ts"
import { fixture, leftOf, startProgram } from "./fixtures/program.ts"

/** Far below the 60 s drain deadline: a program still running then waited for the drain. */
const exitBoundMs = 20_000

const startSpinning = async (backend: Backend, shutdown: object) => {
  const program = startProgram(fixture("signalParent.ts"), ["runMain", JSON.stringify(shutdown), backend])
  const { workers } = JSON.parse(await program.nextLine()) as { workers: Array<number> }
  expect(workers).toHaveLength(2)
  // A thread's id is no process: the operating system sees only forked workers.
  const processes = backend === "process" ? workers : []
  expect(processes.every(isRunning)).toBe(true)
  return { program, workers: processes }
}

const withinBound = <A>(promise: Promise<A>) =>
  Promise.race([promise, new Promise<"still running">((resolve) => setTimeout(resolve, exitBoundMs, "still running"))])

describe.each(backends)("%s", (backend) => {
  it("under runMain, one SIGTERM while a map keeps 2 workers spinning stops the pool without draining: the map fails with ShutdownError, the program exits, no worker is left", async () => {
    const { program, workers } = await startSpinning(backend, { timeout: 60_000 })
    const settled = program.nextLine()
    const sent = Date.now()
    process.kill(program.pid, "SIGTERM")
    const exit = await withinBound(program.exited)
    console.log(`exited ${Date.now() - sent} ms after one SIGTERM`)
    expect(exit).toEqual({ code: 130, signal: null })
    expect(JSON.parse(await settled)).toEqual({ settled: "ShutdownError" })
    expect(await survivorsAfter(workers, 2000)).toEqual([])
    expect(await leftOf(program)).toEqual([])
  }, 60_000)

  it("a second signal forces a draining shutdown (SIGTERM, then SIGINT): the workers are killed now, the map fails with ShutdownError, the program exits", async () => {
    const { program, workers } = await startSpinning(backend, { timeout: 60_000, onInterrupt: "drain" })
    const settled = program.nextLine()
    process.kill(program.pid, "SIGTERM")
    // The first signal drains: the spinning workers keep running, and the map waits.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(workers.every(isRunning)).toBe(true)
    expect(isRunning(program.pid)).toBe(true)
    const sent = Date.now()
    process.kill(program.pid, "SIGINT")
    const exit = await withinBound(program.exited)
    console.log(`exited ${Date.now() - sent} ms after the second signal`)
    expect(exit).toEqual({ code: 130, signal: null })
    expect(JSON.parse(await settled)).toEqual({ settled: "ShutdownError" })
    expect(await survivorsAfter(workers, 2000)).toEqual([])
    expect(await leftOf(program)).toEqual([])
  }, 60_000)
})
