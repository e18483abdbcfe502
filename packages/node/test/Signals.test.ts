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
 * - When a finalizer of the program's own hangs before the pool closes, a
 *   second signal still kills the workers (the `map` fails with
 *   `WorkerCrashed`, no replacement starts), and the program exits 2 s
 *   later with 128 + the signal's number.
 *
 * Both on forked processes and on worker threads (a thread is terminated
 * where a process is SIGKILLed; /proc checks apply to processes only). The
 * plain `Effect.runPromise` parent (no signal handling) is in
 * Orphans.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { isRunning, survivorsAfter, troupeChildrenOf } from "./fixtures/os.ts"
import { type Backend, backends } from "./fixtures/pool.ts"
import { fixture, leftOf, type Program, startProgram } from "./fixtures/program.ts"

/** Far below the 60 s drain deadline: a program still running then waited for the drain. */
const exitBoundMs = 20_000

const startSpinning = async (backend: Backend, shutdown: object, hang = false) => {
  const args = ["runMain", JSON.stringify(shutdown), backend, ...(hang ? ["hang"] : [])]
  const program = startProgram(fixture("signalParent.ts"), args)
  const { workers } = JSON.parse(await program.nextLine()) as { workers: Array<number> }
  expect(workers).toHaveLength(2)
  // A thread's id is no process: the operating system sees only forked workers.
  const processes = backend === "process" ? workers : []
  expect(processes.every(isRunning)).toBe(true)
  return { program, workers: processes }
}

/**
 * Sends the first of two signals; half a second later the program must still be shutting down with its workers
 * spinning. Returns the time the second signal goes out.
 */
const signalTwice = async (
  program: Program,
  workers: ReadonlyArray<number>,
  first: NodeJS.Signals,
  second: NodeJS.Signals
) => {
  process.kill(program.pid, first)
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(workers.every(isRunning)).toBe(true)
  expect(isRunning(program.pid)).toBe(true)
  process.kill(program.pid, second)
  return Date.now()
}

const withinBound = <A>(promise: Promise<A>) =>
  Promise.race([promise, new Promise<"still running">((resolve) => setTimeout(resolve, exitBoundMs, "still running"))])

describe.each(backends)("%s", (backend) => {
  it("a program's own process.once SIGINT handler, registered before its pool started, closes the pool: the runs drain, it exits 0", async () => {
    const program = startProgram(fixture("signalOnce.ts"), [backend])
    JSON.parse(await program.nextLine())
    process.kill(program.pid, "SIGINT")
    // Troupe's hook used to count only itself (Node removes a once listener before calling it), kill every child and
    // end the program by the signal.
    const lines = [await program.nextLine(), await program.nextLine(), await program.nextLine()].map((line) =>
      JSON.parse(line)
    )
    expect(lines).toEqual([{ signal: "SIGINT" }, { results: [1, 2] }, { closed: true }])
    expect(await withinBound(program.exited)).toEqual({ code: 0, signal: null })
    expect(await leftOf(program)).toEqual([])
  }, 60_000)

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
  }, 120_000)

  it("a second signal forces a draining shutdown (SIGTERM, then SIGINT): the workers are killed now, the map fails with ShutdownError, the program exits", async () => {
    const { program, workers } = await startSpinning(backend, { timeout: 60_000, onInterrupt: "drain" })
    const settled = program.nextLine()
    // The first signal drains: the spinning workers keep running, and the map waits.
    const sent = await signalTwice(program, workers, "SIGTERM", "SIGINT")
    const exit = await withinBound(program.exited)
    console.log(`exited ${Date.now() - sent} ms after the second signal`)
    expect(exit).toEqual({ code: 130, signal: null })
    expect(JSON.parse(await settled)).toEqual({ settled: "ShutdownError" })
    expect(await survivorsAfter(workers, 2000)).toEqual([])
    expect(await leftOf(program)).toEqual([])
  }, 120_000)

  it("a second signal ends a program whose own finalizer hangs (SIGINT, then SIGTERM): the workers are killed, the map fails with WorkerCrashed, no replacement starts, the program exits with 143", async () => {
    const { program, workers } = await startSpinning(backend, { timeout: 60_000 }, true)
    const settled = program.nextLine()
    // The first signal interrupts the program, whose finalizer then hangs before the pool closes.
    const sent = await signalTwice(program, workers, "SIGINT", "SIGTERM")
    // The caller hears of the crash before the program is made to exit.
    expect(JSON.parse(await settled)).toEqual({ settled: "WorkerCrashed" })
    expect(await survivorsAfter(workers, 2000)).toEqual([])
    // The pool would replace its crashed workers: the forced program starts none (threads are not in /proc).
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(troupeChildrenOf(program.pid)).toEqual([])
    const exit = await withinBound(program.exited)
    console.log(`exited ${Date.now() - sent} ms after the second signal`)
    expect(exit).toEqual({ code: 143, signal: null })
    expect(await leftOf(program)).toEqual([])
  }, 120_000)
})
