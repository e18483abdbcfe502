/**
 * The one interface every contender implements, so that `measure.ts` can run
 * the same probes on Troupe, the raw IPC baselines and the other pools.
 */

export interface Contender {
  /** `"process"`: workers are child processes (their RSS can be read); `"thread"`: worker threads. */
  readonly kind: "process" | "thread"
  /** Creates the pool with `size` workers; resolves when the pool accepts work. */
  start(size: number): Promise<void>
  /** One tiny task: resolves with `n * n`. */
  run(n: number): Promise<number>
  /** One CPU-bound task: a fixed loop of `iterations` steps. */
  runCpu(iterations: number): Promise<number>
  /** `n * n`, except that the worker calls `process.exit(1)` when `n % 50 === 0`. */
  runCrash(n: number): Promise<number>
  /**
   * Optional: the contender's own idiom for many tasks with at most `inFlight`
   * at once (Effect contenders run one Effect with `concurrency` instead of a
   * Promise per task). Resolves with the results in input order.
   */
  runMany?(ns: ReadonlyArray<number>, inFlight: number): Promise<ReadonlyArray<number>>
  /** Pids of the worker processes (process contenders; empty for threads). */
  pids(): Promise<ReadonlyArray<number>>
  close(): Promise<void>
}

export type Make = () => Contender
