/**
 * Raw `child_process.fork` + `process.send` baselines (`json` and `advanced`
 * serialization) on the minimal pool in `rawPool.ts`.
 */
import { fork } from "node:child_process"
import { makeRawPool, type RawPool } from "./rawPool.ts"

const script = new URL("../workers/rawChild.mjs", import.meta.url)

export const makeRawFork = (serialization: "json" | "advanced"): RawPool =>
  makeRawPool("process", (onMessage, onExit) => {
    const child = fork(script, [], { serialization, stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    child.on("message", (message) => onMessage(message as [number, number]))
    // A send racing the child's exit fails with EPIPE / ERR_IPC_CHANNEL_CLOSED; the exit handler fails its tasks.
    child.on("error", () => {})
    child.once("exit", onExit)
    return {
      pid: child.pid ?? 0,
      send: (message) => {
        if (child.connected) child.send(message)
      },
      stop: () => {
        if (child.connected) child.disconnect()
        return exited
      }
    }
  })
