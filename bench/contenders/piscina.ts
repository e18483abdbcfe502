/** Contender `piscina`: a thread pool with `minThreads = maxThreads = size`. */
import { Piscina } from "piscina"
import type { Contender } from "./types.ts"

const filename = new URL("../workers/namedExports.ts", import.meta.url).href

export const make = (): Contender => {
  let pool: Piscina | undefined
  return {
    kind: "thread",
    start: async (size) => {
      pool = new Piscina({ filename, minThreads: size, maxThreads: size })
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
