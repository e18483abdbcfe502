/** The raw worker thread of the payload probe: `[id, value]` in, the same out, over `postMessage`. */
import { parentPort } from "node:worker_threads"

const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort)
port.on("message", (message) => port.postMessage(message))
