/**
 * The raw `child_process.fork` worker: `[id, op, arg]` in, `[id, result]` out
 * over `process.send`. Exits when the parent's IPC channel closes.
 */
import { perform } from "./work.mjs"

process.on("message", (message) => {
  const [id, code, arg] = /** @type {[number, number, number]} */ (message)
  process.send?.([id, perform(code, arg)])
})
process.on("disconnect", () => process.exit(0))
