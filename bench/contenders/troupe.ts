/**
 * Troupe's pool (`NodePool.layer`) as a contender, on either backend. The
 * layer is built once per measurement process through a `ManagedRuntime`,
 * and calls run in its context (`Effect.runPromiseWith`);
 * many tasks at once go through `map` (chunks of one), a window of them
 * through `apply` in `inFlight` lanes (`effectLanes.ts`).
 */
import { Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Tasks from "../workers/troupeTasks.ts"
import { lanes } from "./effectLanes.ts"
import type { Contender } from "./types.ts"

/** `TROUPE_PREFETCH=n`: the pool's `prefetch` for an experiment (default: the library's). */
export const optionsFromEnv = (): { readonly prefetch?: number } =>
  process.env.TROUPE_PREFETCH === undefined ? {} : { prefetch: Number(process.env.TROUPE_PREFETCH) }

export const makeTroupe = (backend: "process" | "thread"): Contender => {
  let runtime: ManagedRuntime.ManagedRuntime<Pool.Pool, unknown> | undefined
  let pool: Pool.Service | undefined
  let runPromise: (<A>(effect: Effect.Effect<A, unknown, Pool.Pool>) => Promise<A>) | undefined
  const service = (): Pool.Service => pool!
  const run = <A>(effect: Effect.Effect<A, unknown, Pool.Pool>): Promise<A> => runPromise!(effect)
  return {
    kind: backend,
    start: async (size) => {
      runtime = ManagedRuntime.make(
        NodePool.layer({
          backend,
          size,
          ...optionsFromEnv(),
          tasks: Tasks.all,
          // The crash probe kills 20 workers within seconds; the default intensity (2 × size in 10 s) would give up.
          intensity: 1000,
          period: "10 seconds"
        })
      )
      pool = await runtime.runPromise(
        Effect.gen(function* () {
          return yield* Pool.Pool
        })
      )
      // Each call runs in the runtime's context, without the fiber bookkeeping of `runtime.runPromise` (a WeakSet
      // entry and a scope finalizer per fiber, so that `dispose` can interrupt it): `perf` showed it in the
      // latency probe's parent, and the raw pools' harness pays nothing like it.
      runPromise = Effect.runPromiseWith(await runtime.context())
    },
    run: (n) => run(service().apply(Tasks.Square, n)),
    runCpu: (iterations) => run(service().apply(Tasks.Spin, iterations)),
    runCrash: (n) => run(service().apply(Tasks.Crash, n)),
    // All at once: `map` with chunks of one, Troupe's API for many tasks at once (each item is still its own task,
    // dispatched, run and answered alone). A window: `inFlight` fibers, each calling `apply` for the next task.
    runMany: (ns, inFlight) =>
      run(
        inFlight >= ns.length
          ? service().map(Tasks.Square, ns, { chunkSize: 1 })
          : lanes(ns, inFlight, (n) => service().apply(Tasks.Square, n))
      ),
    pids: async () => (backend === "process" ? (await run(service().stats)).workers.map((worker) => worker.pid) : []),
    close: async () => {
      await runtime?.dispose()
    }
  }
}
