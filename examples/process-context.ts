/**
 * Python's `current_process()` and `active_children()`: each task of a pool
 * says which worker runs it, the parent lists its live children, and the
 * program, which never closes its pool, still exits by itself.
 *
 *     node examples/process-context.ts
 */
import { Pool, Process, Task } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Effect, ManagedRuntime, Schema } from "effect"

// Defined at the top level: a worker imports this file to find the task.
export const WhoAmI = Task.make("WhoAmI", {
  payload: Schema.Number,
  success: Schema.String,
  handler: (n) =>
    Effect.map(
      Process.current,
      (me) =>
        `task ${me.task?.name} #${n} (attempt ${me.task?.attempt}) ran in ${me.name}, pid ${me.pid}, child of ${me.parentPid}`
    )
})

// The main part runs only in the parent: a worker importing this file must not start a pool of its own.
if (import.meta.main) {
  const runtime = ManagedRuntime.make(NodePool.layer({ size: 2, name: "squares" }))
  const lines = await runtime.runPromise(Pool.map(WhoAmI, [1, 2, 3, 4]))
  for (const line of lines) console.log(line)
  const me = await Effect.runPromise(Process.current)
  const children = await Effect.runPromise(Process.activeChildren)
  console.log(
    `${me.name} (pid ${me.pid}) has ${children.length} live children: ${children.map((c) => c.name).join(", ")}`
  )
  // The pool is never closed (no `runtime.dispose()`): its idle workers do not keep the program alive.
}
