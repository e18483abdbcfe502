/**
 * Large payloads: a table of rows sent to a worker and back
 * (`node bench/payload.ts [--backend process|thread] [--rows 1000]
 * [--tasks 400] [--reps 5]`). Needs `npm run build` (it loads `dist/`).
 *
 * Each repetition runs each contender in a fresh process (the order
 * rotates): a pool of 2 workers, 50 warm-up calls, then `tasks` calls over
 * 8 lanes, each the same table (1,000 rows are 64 KB of JSON). It prints
 * tasks/s, the parent's and the workers' CPU per task (on threads, the
 * process's, workers included), and the medians of the same-run ratios
 * against the raw pool (`raw`: JSON over `process.send` on processes, a
 * structured clone over `postMessage` on threads; no codec either way):
 *
 * - `troupe-rows`: typed rows (`Schema.Array(Schema.Struct(...))`);
 * - `troupe-unknown`: the same table as `Schema.Unknown`;
 * - `troupe-text`: the table's JSON text as a `Schema.String`, which no
 *   codec reads: what Troupe's pool costs without the codec.
 */
import { fork, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { Worker } from "node:worker_threads"
import { distRunArguments } from "./measure.ts"
import { quantile } from "./stats.ts"

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "process" },
    only: { type: "string", default: "raw,troupe-rows,troupe-unknown,troupe-text" },
    rows: { type: "string", default: "1000" },
    tasks: { type: "string", default: "400" },
    reps: { type: "string", default: "5" },
    /** Internal: run one measurement in this process. */
    run: { type: "string" }
  }
})

interface Values {
  readonly tasksPerSecond: number
  readonly parentMicros: number
  readonly workersMicros: number
}

/** CPU time of processes, in microseconds, from `/proc` (clock ticks of 10 ms). */
const cpuOf = (pids: ReadonlyArray<number>): number =>
  pids.reduce((sum, pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return sum + (Number(fields[11]) + Number(fields[12])) * 10_000
  }, 0)

/** One end of a raw pool's channel: what it sends, and where its replies go. */
interface EchoChannel {
  readonly send: (message: [number, unknown]) => void
  readonly onReply: (listener: (reply: [number, unknown]) => void) => void
}

/** The raw pool's call: sends `[id, value]` to each channel in turn, and resolves with what comes back. */
const rawEcho = (channels: ReadonlyArray<EchoChannel>, value: unknown): (() => Promise<unknown>) => {
  const pending = new Map<number, (reply: unknown) => void>()
  let nextId = 0
  for (const channel of channels) {
    channel.onReply(([id, reply]) => {
      pending.get(id)!(reply)
      pending.delete(id)
    })
  }
  return () =>
    new Promise((resolve) => {
      const id = nextId++
      pending.set(id, resolve)
      channels[id % channels.length]!.send([id, value])
    })
}

const measureHere = async (contender: string): Promise<Values> => {
  const Tasks = await import("./workers/payloadTasks.ts")
  const rows = Tasks.table(Number(args.rows))
  const tasks = Number(args.tasks)
  let run: () => Promise<unknown>
  let close: () => Promise<void>
  let pids: () => Promise<Array<number>>
  if (contender === "raw" && args.backend === "thread") {
    const workers = [0, 1].map(() => new Worker(new URL("./workers/echoThread.mjs", import.meta.url)))
    run = rawEcho(
      workers.map((worker) => ({
        send: (message) => worker.postMessage(message),
        onReply: (listener) => worker.on("message", listener)
      })),
      rows
    )
    close = async () => {
      await Promise.all(workers.map((worker) => worker.terminate()))
    }
    pids = async () => []
  } else if (contender === "raw") {
    const script = new URL("./workers/echoChild.mjs", import.meta.url)
    const children = [0, 1].map(() =>
      fork(script, [], { serialization: "json", stdio: ["ignore", "inherit", "inherit", "ipc"] })
    )
    run = rawEcho(
      children.map((child) => ({
        send: (message) => child.send(message),
        onReply: (listener) => child.on("message", (message) => listener(message as [number, unknown]))
      })),
      rows
    )
    close = async () => {
      for (const child of children) child.disconnect()
    }
    pids = async () => children.map((child) => child.pid!)
  } else {
    const { PromisePool } = await import("@troupe/node")
    const backend = args.backend === "thread" ? "thread" : "process"
    const pool = await PromisePool.make({ backend, size: 2, tasks: Tasks.all })
    const text = JSON.stringify(rows)
    run =
      contender === "troupe-rows"
        ? () => pool.run(Tasks.EchoRows, rows)
        : contender === "troupe-unknown"
          ? () => pool.run(Tasks.EchoUnknown, rows)
          : () => pool.run(Tasks.EchoText, text)
    close = () => pool.close()
    pids = async () => (backend === "thread" ? [] : (await pool.stats()).workers.map((worker) => worker.pid))
  }
  for (let i = 0; i < 50; i++) await run()
  const lane = async () => {
    for (let i = 0; i < tasks / 8; i++) await run()
  }
  const workerPids = await pids()
  const parentBefore = process.cpuUsage()
  const workersBefore = cpuOf(workerPids)
  const started = performance.now()
  await Promise.all(Array.from({ length: 8 }, lane))
  const elapsed = performance.now() - started
  const parent = process.cpuUsage(parentBefore)
  const values = {
    tasksPerSecond: (tasks / elapsed) * 1000,
    parentMicros: (parent.user + parent.system) / tasks,
    workersMicros: (cpuOf(workerPids) - workersBefore) / tasks
  }
  await close()
  return values
}

const median = (samples: ReadonlyArray<number>): number => quantile(samples, 0.5)

if (args.run !== undefined) {
  console.log(`@@result ${JSON.stringify(await measureHere(args.run))}`)
  process.exit(0)
}

const contenders = args.only.split(",")
const samples: Record<string, Array<Values>> = {}
const ratios: Record<string, Array<number>> = {}
for (let rep = 0; rep < Number(args.reps); rep++) {
  const run: Record<string, Values> = {}
  for (const contender of contenders.map((_, i) => contenders[(i + rep) % contenders.length]!)) {
    const out = spawnSync(
      process.execPath,
      distRunArguments(import.meta.url, contender, [
        "--backend",
        args.backend,
        "--rows",
        args.rows,
        "--tasks",
        args.tasks
      ]),
      { encoding: "utf8", timeout: 120_000 }
    )
    const line = out.stdout.split("\n").find((text) => text.startsWith("@@result "))
    if (line === undefined) throw new Error(`${contender}: no result (exit ${out.status}) ${out.stderr.slice(-500)}`)
    const values = JSON.parse(line.slice(9)) as Values
    run[contender] = values
    samples[contender] = [...(samples[contender] ?? []), values]
    console.log(
      `rep ${rep + 1} ${contender}: ${values.tasksPerSecond.toFixed(0)} tasks/s, parent ${values.parentMicros.toFixed(0)} µs/task, workers ${values.workersMicros.toFixed(0)} µs/task`
    )
  }
  const raw = run.raw
  if (raw !== undefined) {
    for (const contender of contenders) {
      if (contender !== "raw") {
        ratios[contender] = [...(ratios[contender] ?? []), run[contender]!.tasksPerSecond / raw.tasksPerSecond]
      }
    }
  }
}
console.log(`\n${args.backend}, ${args.rows} rows, ${args.tasks} tasks, medians of ${args.reps}:`)
for (const contender of contenders) {
  const values = samples[contender]!
  const ratio = ratios[contender] === undefined ? "" : `, ${median(ratios[contender]!).toFixed(2)}x raw`
  console.log(
    `  ${contender}: ${median(values.map((v) => v.tasksPerSecond)).toFixed(0)} tasks/s${ratio}; parent ${median(values.map((v) => v.parentMicros)).toFixed(0)} µs/task, workers ${median(values.map((v) => v.workersMicros)).toFixed(0)} µs/task`
  )
}
