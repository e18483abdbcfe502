/**
 * The raw `child_process.fork` worker: `[id, op, arg]` in, `[id, result]` out
 * over `process.send`. Exits when the parent's IPC channel closes.
 */
import { perform } from "./work.ts"

process.on("message", (message) => {
  const [id, code, arg] = message as [number, number, number]
  process.send!([id, perform(code, arg)])
})
process.on("disconnect", () => process.exit(0))
