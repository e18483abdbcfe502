/** Contender `tinypool-thread`: tinypool's default worker-thread runtime, `minThreads = maxThreads = size`. */
import { Tinypool } from "tinypool"
import type { Contender } from "./types.ts"

const filename = new URL("../workers/namedExports.ts", import.meta.url).href

export const make = (): Contender => {
  let pool: Tinypool | undefined
  return {
    kind: "thread",
    start: async (size) => {
      pool = new Tinypool({ filename, minThreads: size, maxThreads: size })
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
