/**
 * `examples/http-service.ts` driven as a client would: real HTTP requests on
 * 127.0.0.1 while a worker is SIGKILLed (every request is answered, with
 * retries on), then SIGTERM (the service drains, closes its pool and exits,
 * and no process it started is left, by /proc). Both runtimes: a
 * `ManagedRuntime` behind `node:http`, and `NodeRuntime.runMain`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { isRunning, survivorsAfter } from "../../packages/node/test/fixtures/os.ts"

const example = fileURLToPath(new URL("../http-service.ts", import.meta.url))

/** The pids whose parent is `parent`, from /proc. */
const childrenOf = (parent: number): Array<number> =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] === String(parent)
      } catch {
        return false
      }
    })
    .map(Number)

/** Waits until the service's output matches `pattern`, for at most `withinMs`. */
const waitFor = (service: ChildProcess, output: { text: string }, pattern: RegExp, withinMs = 30_000) =>
  new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${withinMs} ms: ${output.text}`)), withinMs)
    const check = () => {
      const match = pattern.exec(output.text)
      if (match === null) return
      clearTimeout(timer)
      service.stdout?.off("data", check)
      resolve(match)
    }
    service.stdout?.on("data", check)
    check()
  })

const exited = (service: ChildProcess, withinMs: number) =>
  new Promise<number | null>((resolve, reject) => {
    if (service.exitCode !== null) return resolve(service.exitCode)
    const timer = setTimeout(() => reject(new Error(`the service did not exit within ${withinMs} ms`)), withinMs)
    service.once("exit", (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })

const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2))

interface Stats {
  readonly workers: ReadonlyArray<{ readonly pid: number; readonly state: string }>
  readonly restarts: number
}

describe("http-service.ts", () => {
  for (const runtime of ["managed", "main"] as const) {
    it(`--runtime ${runtime}: every request answered while a worker is SIGKILLed; nothing left after SIGTERM`, async () => {
      const service = spawn(process.execPath, [example, "--port", "0", "--runtime", runtime], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      const output = { text: "" }
      service.stdout.setEncoding("utf8")
      service.stdout.on("data", (chunk: string) => {
        output.text += chunk
      })
      try {
        const port = Number((await waitFor(service, output, /listening on http:\/\/127\.0\.0\.1:(\d+)/))[1])
        await waitFor(service, output, /^ready$/m)
        const base = `http://127.0.0.1:${port}`
        expect((await fetch(`${base}/ready`)).status).toBe(200)
        const stats = async () => (await (await fetch(`${base}/stats`)).json()) as Stats
        const seen = new Set((await stats()).workers.map((worker) => worker.pid))
        expect(seen.size).toBe(2)

        // 120 requests, 6 at a time; a worker is SIGKILLed once the first 20 are answered.
        const n = 22
        const answers: Array<{ status: number; body: { value?: number } }> = []
        let next = 0
        let killed: number | undefined
        const client = async () => {
          while (next < 120) {
            next++
            const response = await fetch(`${base}/fib?n=${n}`)
            answers.push({ status: response.status, body: (await response.json()) as { value?: number } })
            if (answers.length === 20 && killed === undefined) {
              killed = [...seen][0]!
              process.kill(killed, "SIGKILL")
            }
          }
        }
        await Promise.all(Array.from({ length: 6 }, client))
        expect(killed).toBeDefined()
        expect(answers.length).toBe(120)
        expect(answers.filter((answer) => answer.status !== 200 || answer.body.value !== fib(n))).toEqual([])
        const after = await stats()
        expect(after.restarts).toBeGreaterThanOrEqual(1)
        for (const worker of after.workers) if (worker.pid > 0) seen.add(worker.pid)
        for (const pid of childrenOf(service.pid!)) seen.add(pid)

        service.kill("SIGTERM")
        expect(await exited(service, 30_000)).toBe(0)
        expect(output.text).toMatch(/^stopped$/m)
        expect(await survivorsAfter([...seen], 5_000)).toEqual([])
      } finally {
        if (service.exitCode === null && isRunning(service.pid!)) service.kill("SIGKILL")
      }
    })
  }
})
