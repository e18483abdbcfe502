/**
 * The parent's share of the data path, without IPC: a pool over a fake
 * transport whose workers answer every run on the next turn of the event
 * loop. `node parentbench.ts [tasks] [inFlight]` prints µs of parent CPU per
 * task, with Square as the task.
 */
import { Pool, Transport } from "@troupe/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Tasks from "./workers/troupeTasks.ts"

let pid = 1000
const transport = Transport.Transport.of({
  spawn: (_options, onFrame) =>
    Effect.sync(() => {
      const me = pid++
      setImmediate(() => onFrame({ _tag: "Ready", pid: me }))
      const answer = (run: { id: number; payload: number }) => ({
        id: run.id,
        reply: { _tag: "Success", value: run.payload * run.payload }
      })
      const sendUnsafe = (frame: any) => {
        // Plain runs come as `[id, task, payload, ...]` arrays (see frame.ts), the others as `Run` or `Batch` objects.
        const runs = Array.isArray(frame)
          ? frame.map(([id, , payload]) => ({ id, payload }))
          : frame._tag === "Run"
            ? [frame]
            : frame._tag === "Batch"
              ? frame.runs
              : []
        // A real child sends one Replies frame per run (it flushes before starting the next run).
        if (runs.length > 0)
          setImmediate(() => {
            for (const run of runs) onFrame({ _tag: "Replies", replies: [answer(run)] })
          })
      }
      return {
        pid: me,
        modules: undefined,
        sendUnsafe,
        send: (frame: unknown) => Effect.sync(() => sendUnsafe(frame)),
        exited: Effect.never,
        exitStatus: () => undefined,
        signal: () => Effect.void,
        stdout: Stream.empty,
        stderr: Stream.empty
      }
    })
})

const tasks = Number(process.argv[2] ?? 100000)
const inFlight = Number(process.argv[3] ?? 64)
const program = Effect.gen(function* () {
  const pool = yield* Pool.Pool
  const round = (n: number) =>
    Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => pool.apply(Tasks.Square, i),
      { concurrency: inFlight, discard: true }
    )
  yield* round(10000)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  yield* round(tasks)
  const c1 = process.cpuUsage(c0)
  const wall = performance.now() - t0
  console.log(
    `parent only, inFlight ${inFlight}: ${((1000 * (c1.user + c1.system)) / 1000 / tasks).toFixed(2)} µs CPU/task, ${((wall * 1000) / tasks).toFixed(2)} µs wall/task`
  )
})
await Effect.runPromise(
  Effect.scoped(program).pipe(
    Effect.provide(
      Pool.layer({ size: 2, tasks: Tasks.all }).pipe(Layer.provide(Layer.succeed(Transport.Transport, transport)))
    )
  )
)
