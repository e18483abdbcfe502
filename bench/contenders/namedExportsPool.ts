/**
 * A contender over a thread pool with piscina's API (piscina, and tinypool,
 * its fork): `run(arg, { name })` calls a named export of
 * `workers/namedExports.mjs`, with `minThreads = maxThreads = size`.
 */
import type { Contender } from "./types.ts"

export interface NamedExportsPool {
  run(arg: number, options: { readonly name: string }): Promise<number>
  destroy(): Promise<void>
}

export interface PoolOptions {
  readonly filename: string
  readonly minThreads: number
  readonly maxThreads: number
}

const filename = new URL("../workers/namedExports.mjs", import.meta.url).href

export const makeNamedExportsPool = (create: (options: PoolOptions) => NamedExportsPool): Contender => {
  let pool: NamedExportsPool | undefined
  return {
    kind: "thread",
    start: async (size) => {
      pool = create({ filename, minThreads: size, maxThreads: size })
    },
    run: (n) => pool!.run(n, { name: "square" }),
    runCpu: (iterations) => pool!.run(iterations, { name: "spin" }),
    runCrash: (n) => pool!.run(n, { name: "crash" }),
    pids: async () => [],
    close: async () => {
      await pool?.destroy()
    }
  }
}
