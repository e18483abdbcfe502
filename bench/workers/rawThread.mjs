/**
 * The raw `worker_threads` worker: `[id, op, arg]` in, `[id, result]` out over
 * `parentPort.postMessage`.
 */
import { parentPort } from "node:worker_threads"
import { perform } from "./work.mjs"

const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort)
port.on("message", (/** @type {[number, number, number]} */ message) => {
  port.postMessage([message[0], perform(message[1], message[2])])
})
