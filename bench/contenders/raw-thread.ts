/** Contender `raw-thread`: `worker_threads` + `postMessage` on the minimal pool in `rawPool.ts`. */
import { Worker } from "node:worker_threads"
import { makeRawPool, type RawPool } from "./rawPool.ts"

const script = new URL("../workers/rawThread.mjs", import.meta.url)

export const make = (): RawPool =>
  makeRawPool("thread", (onMessage, onExit) => {
    const worker = new Worker(script)
    worker.on("message", onMessage)
    worker.on("error", () => {})
    worker.once("exit", onExit)
    return {
      pid: 0,
      send: (message) => worker.postMessage(message),
      stop: async () => {
        await worker.terminate()
      }
    }
  })
