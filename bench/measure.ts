/**
 * One measurement in a fresh Node process: `node measure.ts --contender X
 * --probe Y --config '{...}'`. Builds the contender's pool, runs the probe,
 * prints `@@result {"probe", "values"}` or `@@error {"probe", "error"}` (one
 * JSON line; `@@pids [...]` lines before it let the orchestrator kill the
 * workers if this process must be killed), closes the pool, kills whatever
 * worker is left, and exits. `--probe a,b` runs several probes in turn, each
 * on a pool of its own (quick mode).
 */
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import type { Contender } from "./contenders/types.ts"
import { quantile } from "./stats.ts"

export interface Config {
  /** Tasks for the two throughput probes. */
  readonly tasks: number
  readonly warmup: number
  /** Sequential tasks for the latency probe. */
  readonly latencyTasks: number
  readonly cpuTasks: number
  readonly cpuIterations: number
  readonly cpuRounds: number
  /** Pause between the two warm-ups of the CPU probe, for workers still starting. */
  readonly cpuSettleMs: number
  readonly crashTasks: number
  readonly crashDeadlineMs: number
  readonly idleWaitMs: number
  /** Bound for the 10 tasks submitted after the crash phase. */
  readonly servedAfterMs: number
  /** How long the restart probe waits for a task to be served after the crash. */
  readonly restartBoundMs: number
  readonly closeTimeoutMs: number
  /** Tasks of the short-burst probes (`burstAll`, `burst64`), after `shortWarmup` (default 2,000). */
  readonly burstTasks?: number
  /** Warm-up of the first-task probes (`burstAll`, `burst64`, `outside`, `latencyShort`; default 200). */
  readonly shortWarmup?: number
  /** Tasks of the `outside` probe, submitted all at once as one Promise each (default 20,000). */
  readonly outsideTasks?: number
}

export const probes = ["tputAll", "tput64", "latency", "cpu", "start", "restart", "crash"] as const
/**
 * The first-task probes (`firstTask.ts`), for a program that has just started: `import` (the library's import in
 * a fresh process, before anything else loads), `cold` (process start to the first result of a pool of 2), short
 * bursts after a short warm-up, all at once and 64 in flight (one Promise per task), `outside` (20,000 tasks at
 * once, one Promise each, as request handlers call), `latencyShort` (p50 one at a time after a short warm-up), and
 * `warmOutside` (`outside` after 20,000 warm-up tasks: the warmed pool, called one Promise per task).
 */
export const firstTaskProbes = [
  "import",
  "cold",
  "burstAll",
  "burst64",
  "outside",
  "latencyShort",
  "warmOutside"
] as const
export type FirstTaskProbe = (typeof firstTaskProbes)[number]
export type Probe = (typeof probes)[number]

type Values = Record<string, number>

/** What a program imports to use each contender's library: measured by the `import` probe, in a fresh process. */
const librarySpecifiers = (contender: string): ReadonlyArray<string> =>
  // Not a contender: the part of \`effect\` any Troupe program loads (tasks are defined with Schema), as a floor.
  contender === "effect-floor"
    ? ["effect/Effect", "effect/Schema", "effect/Layer"]
    : // Not a contender either: what a program that only runs a pool loads when it imports modules, not the barrels.
      contender === "troupe-pool-only"
      ? ["@troupe/core/Task", "@troupe/core/Pool", "@troupe/node/NodePool"]
      : contender.startsWith("troupe")
        ? ["@troupe/core", "@troupe/node"]
        : contender === "piscina"
          ? ["piscina"]
          : contender === "tinypool-thread"
            ? ["tinypool"]
            : contender.startsWith("poolifier")
              ? ["poolifier"]
              : contender.startsWith("workerpool")
                ? ["workerpool"]
                : []

/** Milliseconds to import `specifiers` in turn; the first thing the process does, so nothing of them is cached. */
const importTime = async (specifiers: ReadonlyArray<string>): Promise<Values> => {
  const t0 = performance.now()
  for (const specifier of specifiers) await import(specifier)
  return { importMs: performance.now() - t0 }
}

const expectSquares = (ns: ReadonlyArray<number>, results: ReadonlyArray<number>): void => {
  for (let i = 0; i < ns.length; i++) {
    if (results[i] !== ns[i]! * ns[i]!) throw new Error(`wrong result at ${i}: ${results[i]}`)
  }
}

const range = (from: number, count: number): Array<number> => Array.from({ length: count }, (_, i) => from + i)

const many = (contender: Contender, ns: ReadonlyArray<number>, inFlight: number): Promise<ReadonlyArray<number>> => {
  if (contender.runMany !== undefined) return contender.runMany(ns, inFlight)
  if (inFlight >= ns.length) return Promise.all(ns.map((n) => contender.run(n)))
  const out = new Array<number>(ns.length)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < ns.length) {
      const i = next++
      out[i] = await contender.run(ns[i]!)
    }
  }
  return Promise.all(Array.from({ length: inFlight }, lane)).then(() => out)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const withTimeout = <A>(promise: Promise<A>, ms: number): Promise<A | "timeout"> =>
  Promise.race([promise, sleep(ms).then(() => "timeout" as const)])

const reportPids = async (contender: Contender): Promise<ReadonlyArray<number>> => {
  const pids = await contender.pids()
  console.log(`@@pids ${JSON.stringify(pids)}`)
  return pids
}

const vmRssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1])
  return kb / 1024
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()

const throughput = async (contender: Contender, config: Config, inFlight: "all" | number): Promise<number> => {
  await contender.start(2)
  await reportPids(contender)
  await many(contender, range(1, config.warmup), 64)
  const ns = range(1, config.tasks)
  const t0 = performance.now()
  const results = await many(contender, ns, inFlight === "all" ? ns.length : inFlight)
  const seconds = (performance.now() - t0) / 1000
  expectSquares(ns, results)
  return config.tasks / seconds
}

/** One Promise per task (`contender.run`), whatever idiom the contender has for many: what a Promise-based caller writes. */
const perTask = (contender: Contender): Contender => {
  const { runMany: _, ...rest } = contender
  return rest
}

/** A burst of `tasks` after `warmup` tasks (64 in flight), one Promise per task; tasks per second. */
const burst = async (
  contender: Contender,
  warmup: number,
  tasks: number,
  inFlight: "all" | number
): Promise<number> => {
  await contender.start(2)
  await reportPids(contender)
  const caller = perTask(contender)
  await many(caller, range(1, warmup), 64)
  const ns = range(1, tasks)
  const t0 = performance.now()
  const results = await many(caller, ns, inFlight === "all" ? ns.length : inFlight)
  const seconds = (performance.now() - t0) / 1000
  expectSquares(ns, results)
  return tasks / seconds
}

/** Process start (the timer's origin) to the first result of a pool of 2, with the contender's modules loaded on the way. */
const cold = async (contender: Contender): Promise<Values> => {
  await contender.start(2)
  const result = await contender.run(3)
  const coldMs = performance.now()
  if (result !== 9) throw new Error(`wrong result ${result}`)
  await reportPids(contender)
  return { coldMs }
}

const latency = async (contender: Contender, config: Config, warmup = config.warmup): Promise<Values> => {
  await contender.start(2)
  await reportPids(contender)
  for (let i = 0; i < warmup; i++) await contender.run(i)
  const samples: Array<number> = []
  for (let i = 0; i < config.latencyTasks; i++) {
    const t0 = performance.now()
    const result = await contender.run(i)
    samples.push((performance.now() - t0) * 1000)
    if (result !== i * i) throw new Error(`wrong result ${result}`)
  }
  return { latencyP50Us: quantile(samples, 0.5), latencyP99Us: quantile(samples, 0.99) }
}

const cpuWall = async (contender: Contender, config: Config): Promise<number> => {
  const t0 = performance.now()
  await Promise.all(range(0, config.cpuTasks).map(() => contender.runCpu(config.cpuIterations)))
  return performance.now() - t0
}

/**
 * Two pools, of one and of two workers, warmed up until every worker is up
 * (some pools resolve start() before their workers are ready); then the
 * same batch alternately on each, `cpuRounds` times; the best wall of each
 * counts (the machine is shared, and noise only ever adds time).
 */
const cpu = async (makeContender: () => Contender, config: Config): Promise<Values> => {
  const one = makeContender()
  const two = makeContender()
  await one.start(1)
  await two.start(2)
  await reportPids(two)
  for (const [pool, size] of [
    [one, 1],
    [two, 2]
  ] as const) {
    await Promise.all(range(0, 2 * size).map(() => pool.runCpu(config.cpuIterations)))
    await sleep(config.cpuSettleMs)
    await Promise.all(range(0, 2 * size).map(() => pool.runCpu(config.cpuIterations)))
  }
  let wall1 = Number.POSITIVE_INFINITY
  let wall2 = Number.POSITIVE_INFINITY
  for (let round = 0; round < config.cpuRounds; round++) {
    wall1 = Math.min(wall1, await cpuWall(one, config))
    wall2 = Math.min(wall2, await cpuWall(two, config))
  }
  const pids = [...(await one.pids()), ...(await two.pids())]
  await Promise.all([withTimeout(one.close(), config.closeTimeoutMs), withTimeout(two.close(), config.closeTimeoutMs)])
  killAll(pids)
  return { cpuSpeedup: wall1 / wall2, cpuWall1Ms: wall1, cpuWall2Ms: wall2 }
}

const killAll = (pids: ReadonlyArray<number>): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {}
  }
}

const start = async (contender: Contender, config: Config): Promise<Values> => {
  gc()
  const rssBefore = process.memoryUsage.rss()
  const t0 = performance.now()
  await contender.start(2)
  const result = await contender.run(3)
  const startMs = performance.now() - t0
  if (result !== 9) throw new Error(`wrong result ${result}`)
  const pids = await reportPids(contender)
  await sleep(config.idleWaitMs)
  gc()
  const idleRssMb =
    contender.kind === "process"
      ? pids.reduce((sum, pid) => sum + vmRssMb(pid), 0) / pids.length
      : (process.memoryUsage.rss() - rssBefore) / 2 / 2 ** 20
  return { startMs, idleRssMb }
}

/**
 * Pool of one: submit a task that exits the worker, then a tiny task every
 * 10 ms until one is served (some pools strand the task queued at the crash
 * until another one is submitted, others lose it); restartMs is the time
 * from the exit task's submission to the first tiny task's result.
 */
const restart = async (contender: Contender, config: Config): Promise<Values> => {
  await contender.start(1)
  await reportPids(contender)
  for (let i = 0; i < 20; i++) await contender.run(i)
  const t0 = performance.now()
  contender.runCrash(50).catch(() => {})
  const served = await new Promise<number | undefined>((resolve) => {
    let done = false
    const finish = (value: number | undefined) => {
      if (done) return
      done = true
      clearInterval(timer)
      clearTimeout(deadline)
      resolve(value)
    }
    const attempt = () =>
      contender.run(7).then(
        (value) => value === 49 && finish(performance.now() - t0),
        () => {}
      )
    const timer = setInterval(attempt, 10)
    const deadline = setTimeout(() => finish(undefined), config.restartBoundMs)
    attempt()
  })
  if (served === undefined) throw new Error(`no task served within ${config.restartBoundMs} ms of the crash`)
  await reportPids(contender)
  return { restartMs: served }
}

const crash = async (contender: Contender, config: Config): Promise<Values> => {
  await contender.start(2)
  await reportPids(contender)
  await many(contender, range(1, 100), 64)
  const state = new Array<"pending" | "resolved" | "rejected" | "wrong">(config.crashTasks + 1).fill("pending")
  for (let n = 1; n <= config.crashTasks; n++) {
    contender.runCrash(n).then(
      (value) => {
        state[n] = value === n * n ? "resolved" : "wrong"
      },
      () => {
        state[n] = "rejected"
      }
    )
  }
  const t0 = performance.now()
  while (performance.now() - t0 < config.crashDeadlineMs && state.slice(1).includes("pending")) await sleep(20)
  const settled = state.slice(1)
  const count = (s: string) => settled.filter((x) => x === s).length
  const innocent = settled.filter((x, i) => x === "rejected" && (i + 1) % 50 !== 0).length
  await reportPids(contender)
  const after = range(1, 10).map((n) =>
    contender.run(n).then(
      (value) => value === n * n,
      () => false
    )
  )
  const served = await withTimeout(Promise.all(after), config.servedAfterMs)
  return {
    crashResolved: count("resolved"),
    crashRejected: count("rejected"),
    crashInnocent: innocent,
    crashHung: count("pending"),
    crashServedAfter: served === "timeout" ? 0 : served.filter(Boolean).length,
    crashWrong: count("wrong")
  }
}

const firstTask = (probe: FirstTaskProbe, contender: Contender, config: Config): Promise<Values> => {
  const warmup = config.shortWarmup ?? 200
  const burstTasks = config.burstTasks ?? 2000
  switch (probe) {
    case "import":
      throw new Error("the import probe runs before the contender loads")
    case "cold":
      return cold(contender)
    case "burstAll":
      return burst(contender, warmup, burstTasks, "all").then((v) => ({ burstAllTasksPerSec: v }))
    case "burst64":
      return burst(contender, warmup, burstTasks, 64).then((v) => ({ burst64TasksPerSec: v }))
    case "outside":
      return burst(contender, warmup, config.outsideTasks ?? 20_000, "all").then((v) => ({ outsideTasksPerSec: v }))
    case "warmOutside":
      return burst(contender, 20_000, config.outsideTasks ?? 20_000, "all").then((v) => ({ warmOutsideTasksPerSec: v }))
    case "latencyShort":
      return latency(contender, config, warmup).then(({ latencyP50Us, latencyP99Us }) => ({
        shortLatencyP50Us: latencyP50Us!,
        shortLatencyP99Us: latencyP99Us!
      }))
  }
}

const runProbe = async (
  probe: Probe | FirstTaskProbe,
  makeContender: () => Contender,
  config: Config
): Promise<Values> => {
  if (probe === "cpu") return cpu(makeContender, config)
  const contender = makeContender()
  const values = (firstTaskProbes as ReadonlyArray<string>).includes(probe)
    ? await firstTask(probe as FirstTaskProbe, contender, config)
    : probe === "tputAll"
      ? { tasksPerSecAllAtOnce: await throughput(contender, config, "all") }
      : probe === "tput64"
        ? { tasksPerSecWindow64: await throughput(contender, config, 64) }
        : probe === "latency"
          ? await latency(contender, config)
          : probe === "start"
            ? await start(contender, config)
            : probe === "restart"
              ? await restart(contender, config)
              : await crash(contender, config)
  const pids = await contender.pids().catch(() => [] as ReadonlyArray<number>)
  const closed = await withTimeout(contender.close(), config.closeTimeoutMs)
  killAll(pids)
  return closed === "timeout" ? { ...values, closeTimedOut: 1 } : values
}

/** The flag that loads `@troupe/*` from `dist/` in a measurement process, as an installed copy (`distHooks.mjs`). */
const distImport = ["--import", new URL("./distHooks.mjs", import.meta.url).pathname]

/**
 * The Node arguments that run `probes` (comma-separated) for one contender in a fresh process: what run.ts and
 * ab.ts spawn. `dist`: load `@troupe/*` from their compiled `dist/` as an installed copy does (`distHooks.mjs`).
 */
export const measureArguments = (
  contender: string,
  probes: string,
  config: Config,
  options?: { readonly dist?: boolean }
): Array<string> => [
  "--expose-gc",
  ...(options?.dist === true ? distImport : []),
  new URL("./measure.ts", import.meta.url).pathname,
  "--contender",
  contender,
  "--probe",
  probes,
  "--config",
  JSON.stringify(config)
]

/**
 * The arguments that run a bench tool's own module (`script`, its
 * `import.meta.url`) again in a fresh Node process for one contender, with
 * `@troupe/*` loaded from `dist/` (`distHooks.mjs`), as the tools that
 * measure one contender per process (`callCount.ts`, `inFlightBytes.ts`)
 * run themselves: `node [flags] --import distHooks.mjs script --run
 * contender ...options`.
 */
export const distRunArguments = (
  script: string,
  contender: string,
  options: ReadonlyArray<string>,
  flags: ReadonlyArray<string> = []
): Array<string> => [...flags, ...distImport, new URL(script).pathname, "--run", contender, ...options]

if (import.meta.main) {
  process.on("unhandledRejection", () => {})
  const { values: args } = parseArgs({
    options: { contender: { type: "string" }, probe: { type: "string" }, config: { type: "string" } }
  })
  const probeList = args.probe!.split(",") as Array<Probe | FirstTaskProbe>
  // The import probe comes first, before the contender's own modules load (which import the library).
  if (probeList.includes("import")) {
    const values = await importTime(librarySpecifiers(args.contender!))
    console.log(`@@result ${JSON.stringify({ probe: "import", values })}`)
    if (probeList.length === 1) process.exit(0)
  }
  const { make } = (await import(`./contenders/${args.contender}.ts`)) as { make: () => Contender }
  const config = JSON.parse(args.config!) as Config
  // Full runs pass one probe; quick runs pass them all, to spare a Node start per probe.
  for (const probe of probeList.filter((p) => p !== "import")) {
    try {
      const values = await runProbe(probe, make, config)
      console.log(`@@result ${JSON.stringify({ probe, values })}`)
    } catch (error) {
      const message = String((error as Error)?.stack ?? error)
        .split("\n")[0]!
        .slice(0, 300)
      console.log(`@@error ${JSON.stringify({ probe, error: message })}`)
    }
  }
  process.exit(0)
}
