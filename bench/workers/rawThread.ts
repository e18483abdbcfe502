/**
 * The raw `worker_threads` worker: `[id, op, arg]` in, `[id, result]` out over
 * `parentPort.postMessage`.
 */
import { parentPort } from "node:worker_threads"
import { perform } from "./work.ts"

const port = parentPort!
port.on("message", (message: [number, number, number]) => {
  port.postMessage([message[0], perform(message[1], message[2])])
})
