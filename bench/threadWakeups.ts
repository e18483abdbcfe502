/**
 * What one `postMessage` round trip costs a worker thread and its parent in
 * CPU, by how many messages are in flight: `node bench/threadWakeups.ts`.
 * A bare worker answers `[id, op, n]` with `[id, n * n]`; the parent keeps
 * `inFlight` messages outstanding (one more sent per reply), 20,000
 * messages per round, 3 rounds per window. Each thread's on-CPU time comes
 * from `/proc/<pid>/task/<tid>/schedstat`. A thread that drains its queue
 * sleeps, and each message that wakes it costs far more than one that finds
 * it busy. A pool that feeds a worker one run per reply pays that cost; the
 * raw pool posts a whole burst at once and does not.
 */
import { readdirSync, readFileSync } from "node:fs"
import { Worker } from "node:worker_threads"

const worker = new Worker(
  `const { parentPort } = require("node:worker_threads")
parentPort.on("message", (m) => parentPort.postMessage([m[0], m[2] * m[2]]))`,
  { eval: true, name: "wakeups" }
)
const task = (pid: number, name: string): string | undefined => {
  for (const tid of readdirSync(`/proc/${pid}/task`))
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === name) return tid
  return undefined
}
const onCpu = (tid: string | number): number =>
  Number(readFileSync(`/proc/${process.pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])

/** `n` messages, `inFlight` outstanding at a time. */
const run = (n: number, inFlight: number) =>
  new Promise<void>((resolve) => {
    let sent = 0
    let received = 0
    const onMessage = () => {
      received++
      if (sent < n) worker.postMessage([sent++, 0, sent])
      if (received === n) {
        worker.off("message", onMessage)
        resolve()
      }
    }
    worker.on("message", onMessage)
    while (sent < Math.min(n, inFlight)) worker.postMessage([sent++, 0, sent])
  })

const messages = 20_000
await run(messages, messages)
await run(messages, 1)
const tid = task(process.pid, "wakeups")!
for (const inFlight of [messages, 33, 4, 1]) {
  const rounds: Array<string> = []
  for (let round = 0; round < 3; round++) {
    const worker0 = onCpu(tid)
    const main0 = onCpu(process.pid)
    await run(messages, inFlight)
    const us = (ns: number) => (ns / messages / 1000).toFixed(2)
    rounds.push(`${us(onCpu(tid) - worker0)}/${us(onCpu(process.pid) - main0)}`)
  }
  console.log(`${inFlight} in flight: µs of CPU per message, worker/main: ${rounds.join(" ")}`)
}
await worker.terminate()
