/**
 * The raw baseline the message benchmarks share (`actors.ts`, `ipcPipe.ts`):
 * two forked children relaying a rally of numbers through their parent with
 * `process.send` (`workers/relayChild.ts`), and the CPU time per message of
 * the parent and of its children (from `/proc`, Linux only).
 */
import { fork } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

/**
 * CPU milliseconds used so far by each child of this process, by pid (Linux
 * `/proc`, 100 ticks a second), or `undefined` without `/proc`.
 */
export const childrenCpuMs = (): Map<number, number> | undefined => {
  const byPid = new Map<number, number>()
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ")
        if (Number(fields[1]) === process.pid) byPid.set(Number(entry), (Number(fields[11]) + Number(fields[12])) * 10)
      } catch {
        // The process ended meanwhile.
      }
    }
  } catch {
    return undefined
  }
  return byPid
}

/**
 * CPU milliseconds the children alive now used since `start`: each one's
 * time minus what it had used at `start` (nothing if it started since). A
 * child that was there at `start` and ended since is left out: subtracting
 * its time from a total that no longer holds it is what made this negative.
 */
const childrenCpuSinceMs = (start: Map<number, number> | undefined): number => {
  const now = childrenCpuMs()
  if (start === undefined || now === undefined) return Number.NaN
  let total = 0
  for (const [pid, ms] of now) total += ms - (start.get(pid) ?? 0)
  return total
}

/** CPU µs per message of the parent and of its children, over `messages` messages since `start`. */
export interface Cpu {
  readonly parent: number
  readonly children: number
}
export const cpuStart = () => ({ parent: process.cpuUsage(), children: childrenCpuMs() })
export const cpuPerMessage = (start: ReturnType<typeof cpuStart>, messages: number): Cpu => {
  const parent = process.cpuUsage(start.parent)
  return {
    parent: (parent.user + parent.system) / messages,
    children: (childrenCpuSinceMs(start.children) * 1000) / messages
  }
}

/**
 * Messages per second of one raw rally of `messages` messages (after a warm-up
 * rally of 1,000): two forked children (JSON serialization) relaying numbers
 * through this process with `process.send`, each number one message.
 */
export const rawRelay = async (messages: number): Promise<{ readonly rate: number; readonly cpu: Cpu }> => {
  const child = () => fork(new URL("./workers/relayChild.ts", import.meta.url), [], { serialization: "json" })
  const server = child()
  const answerer = child()
  const rally = (total: number) =>
    new Promise<{ readonly rate: number; readonly cpu: Cpu }>((resolve) => {
      const cpu = cpuStart()
      const started = performance.now()
      server.removeAllListeners("message")
      answerer.removeAllListeners("message")
      server.on("message", (frame: { n?: number; done?: number }) => {
        if (frame.done !== undefined) {
          resolve({
            rate: (frame.done / (performance.now() - started)) * 1000,
            cpu: cpuPerMessage(cpu, frame.done)
          })
        } else answerer.send(frame)
      })
      answerer.on("message", (frame) => server.send(frame as object))
      server.send({ serve: total })
    })
  await rally(1000)
  const measured = await rally(messages)
  server.kill()
  answerer.kill()
  return measured
}
