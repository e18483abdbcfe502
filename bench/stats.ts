/**
 * Summaries and ratios for the orchestrator: median/min/max of the repeated
 * samples, every contender's ratio against the baselines of the same run,
 * and the issue's targets checked against those ratios.
 */

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export type Results = Record<string, Record<string, Summary>>

/** The `q` quantile of latency samples (the sample at rank `floor(q * n)`), as the latency probe reports p50 and p99. */
export const quantile = (samples: ReadonlyArray<number>, q: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length }
}

export const baselines = ["raw-fork-json", "raw-fork-advanced", "raw-thread"] as const

/** The measurements of latest.json; anything else a probe prints goes to `extras`. */
export const measurements = [
  "tasksPerSecAllAtOnce",
  "tasksPerSecWindow64",
  "latencyP50Us",
  "latencyP99Us",
  "cpuSpeedup",
  "startMs",
  "restartMs",
  "idleRssMb",
  "crashResolved",
  "crashRejected",
  "crashInnocent",
  "crashHung",
  "crashServedAfter"
] as const

/** Measurements whose ratio against a baseline means something (not the crash counts). */
export const ratioMeasurements = measurements.filter((measurement) => !measurement.startsWith("crash"))

const med = (results: Results, contender: string, measurement: string): number | undefined =>
  results[contender]?.[measurement]?.median

/** contender ÷ baseline, on medians: above 1 is better for tasks/s and cpuSpeedup, worse for the rest. */
export const ratiosVsBaselines = (results: Results): Record<string, Record<string, Record<string, number>>> => {
  const out: Record<string, Record<string, Record<string, number>>> = {}
  for (const contender of Object.keys(results)) {
    for (const measurement of ratioMeasurements) {
      const value = med(results, contender, measurement)
      if (value === undefined) continue
      for (const baseline of baselines) {
        const base = med(results, baseline, measurement)
        if (base === undefined || base === 0) continue
        out[contender] ??= {}
        out[contender][measurement] ??= {}
        out[contender][measurement][baseline] = value / base
      }
    }
  }
  return out
}

export interface Target {
  readonly name: string
  readonly value: number | undefined
  readonly target: string
  readonly holds: boolean | undefined
  /** Whether the issue set this target (true) or the suite adds it for the thread backend (false). */
  readonly issue: boolean
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b

const atLeast = (name: string, value: number | undefined, bound: number, issue = true): Target => ({
  name,
  value,
  target: `≥ ${bound}`,
  holds: value === undefined ? undefined : value >= bound,
  issue
})

const atMost = (name: string, value: number | undefined, bound: number, issue = true): Target => ({
  name,
  value,
  target: `≤ ${bound}`,
  holds: value === undefined ? undefined : value <= bound,
  issue
})

const best = (values: ReadonlyArray<number | undefined>, pick: (a: number, b: number) => number) =>
  values
    .filter((v): v is number => v !== undefined)
    .reduce<number | undefined>((acc, v) => (acc === undefined ? v : pick(acc, v)), undefined)

/** The issue's targets for Troupe, each as a ratio of medians from this run. */
export const targets = (results: Results, crashTasks: number): Array<Target> => {
  const m = (contender: string, measurement: string) => med(results, contender, measurement)
  const fasterForkP50 = best([m("raw-fork-json", "latencyP50Us"), m("raw-fork-advanced", "latencyP50Us")], Math.min)
  const fasterForkStart = best([m("raw-fork-json", "startMs"), m("raw-fork-advanced", "startMs")], Math.min)
  const exits = Math.floor(crashTasks / 50)
  const crashExpected = [crashTasks - exits, exits, 0, 0, 10]
  const crashKeys = ["crashResolved", "crashRejected", "crashInnocent", "crashHung", "crashServedAfter"]
  const crashTarget = (contender: string, issue: boolean): Target => {
    const got = crashKeys.map((key) => m(contender, key))
    return {
      name: `${contender} crash resolved/rejected/innocent/hung/servedAfter`,
      value: undefined,
      target: `${crashExpected.join("/")} (got ${got.map((v) => v ?? "–").join("/")})`,
      holds: got.some((v) => v === undefined) ? undefined : got.every((v, i) => v === crashExpected[i]),
      issue
    }
  }
  // The throughput bars hold for both throughput probes ("All at once: the same ratios").
  const throughput = (probe: string, label: string): Array<Target> => {
    const fasterFork = best([m("raw-fork-json", probe), m("raw-fork-advanced", probe)], Math.max)
    return [
      atLeast(`troupe-process ${label} ÷ faster raw fork`, ratio(m("troupe-process", probe), fasterFork), 0.8),
      atLeast(
        `troupe-process ${label} ÷ workerpool-process`,
        ratio(m("troupe-process", probe), m("workerpool-process", probe)),
        2.5
      ),
      atLeast(
        `troupe-process ${label} ÷ poolifier-cluster`,
        ratio(m("troupe-process", probe), m("poolifier-cluster", probe)),
        1
      ),
      atLeast(`troupe-thread ${label} ÷ raw-thread`, ratio(m("troupe-thread", probe), m("raw-thread", probe)), 0.5),
      atLeast(`troupe-thread ${label} ÷ piscina`, ratio(m("troupe-thread", probe), m("piscina", probe)), 2)
    ]
  }
  return [
    ...throughput("tasksPerSecWindow64", "64-in-flight"),
    ...throughput("tasksPerSecAllAtOnce", "all-at-once"),
    atMost(
      "troupe-process latency p50 ÷ faster raw fork",
      ratio(m("troupe-process", "latencyP50Us"), fasterForkP50),
      1.5
    ),
    atLeast("troupe-process cpuSpeedup", m("troupe-process", "cpuSpeedup"), 1.9),
    atMost(
      "troupe-process startMs ÷ faster raw fork startMs",
      ratio(m("troupe-process", "startMs"), fasterForkStart),
      3
    ),
    atMost(
      "troupe-process restartMs ÷ faster raw fork startMs",
      ratio(m("troupe-process", "restartMs"), fasterForkStart),
      3
    ),
    crashTarget("troupe-process", true),
    atMost(
      "troupe-process idle RSS ÷ raw-fork-json child",
      ratio(m("troupe-process", "idleRssMb"), m("raw-fork-json", "idleRssMb")),
      1.5
    ),
    atMost(
      "troupe-thread latency p50 ÷ raw-thread",
      ratio(m("troupe-thread", "latencyP50Us"), m("raw-thread", "latencyP50Us")),
      1.5,
      false
    ),
    atLeast("troupe-thread cpuSpeedup", m("troupe-thread", "cpuSpeedup"), 1.9, false),
    atMost(
      "troupe-thread startMs ÷ raw-thread startMs",
      ratio(m("troupe-thread", "startMs"), m("raw-thread", "startMs")),
      3,
      false
    ),
    atMost(
      "troupe-thread restartMs ÷ raw-thread startMs",
      ratio(m("troupe-thread", "restartMs"), m("raw-thread", "startMs")),
      3,
      false
    ),
    crashTarget("troupe-thread", false)
  ]
}
