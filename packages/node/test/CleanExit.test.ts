/**
 * A program that never closes its pool exits by itself once its main part is
 * done, as Python's does: an idle worker does not keep the event loop alive,
 * a busy one does until its task is done. Run as a user would (`node
 * file.ts`), checked from outside: the exit code, and /proc for anything left.
 */
import { expect, it } from "@effect/vitest"
import { backends } from "./fixtures/pool.ts"
import { endedLine, fixture, leftOf, type Program, startProgram } from "./fixtures/program.ts"

/**
 * The program's exit, or a message if it is still running after `ms`: the pool's timers that wait for something
 * nobody needs (an idle worker's retirement, an admitted offer's wait) must not hold it up for their 60 seconds.
 * The bound only catches that.
 */
const exitsWithin = (program: Program, ms: number) =>
  Promise.race([
    program.exited,
    new Promise((resolve) => setTimeout(() => resolve(`still running after ${ms} ms`), ms).unref())
  ])

for (const backend of backends) {
  it(`${backend}: a program that never closes its pool exits with code 0 when its main part is done, and leaves no child`, async () => {
    const program = startProgram(fixture("unclosed.ts"), [backend, "idle"])
    const { squares, workers } = JSON.parse(await program.nextLine()) as {
      squares: Array<number>
      workers: Array<number>
    }
    expect(squares).toEqual([1, 4, 9, 16])
    expect(workers).toHaveLength(2)
    expect(await program.exited).toEqual({ code: 0, signal: null })
    expect(await program.nextLine()).toBe(endedLine)
    expect(await leftOf(program)).toEqual([])
  }, 60_000)

  it(`${backend}: a program whose main part returns while a task runs exits once the task is done`, async () => {
    const program = startProgram(fixture("unclosed.ts"), [backend, "busy"])
    expect(JSON.parse(await program.nextLine())).toMatchObject({ squares: [1, 4, 9, 16] })
    expect(await program.nextLine()).toBe("slow task done after 300 ms")
    expect(await program.exited).toEqual({ code: 0, signal: null })
    expect(await leftOf(program)).toEqual([])
  }, 60_000)

  it(`${backend}: with idleTimeout, a program that never closes its pool exits without waiting for its idle workers' timers`, async () => {
    const program = startProgram(fixture("unclosed.ts"), [backend, "idleTimeout"])
    expect(JSON.parse(await program.nextLine())).toMatchObject({ squares: [1, 4, 9, 16] })
    expect(await exitsWithin(program, 20_000)).toEqual({ code: 0, signal: null })
    expect(await leftOf(program)).toEqual([])
  }, 60_000)

  it(`${backend}: an offer that waited for room and was admitted does not keep the program alive for its wait`, async () => {
    const program = startProgram(fixture("unclosed.ts"), [backend, "offer"])
    expect(JSON.parse(await program.nextLine())).toMatchObject({ squares: [1, 4, 9, 16] })
    expect(await program.nextLine()).toBe("offer admitted: 25")
    expect(await exitsWithin(program, 20_000)).toEqual({ code: 0, signal: null })
    expect(await leftOf(program)).toEqual([])
  }, 60_000)
}
