/** Contender `tinypool-thread`: tinypool's default worker-thread runtime, `minThreads = maxThreads = size`. */
import { Tinypool } from "tinypool"
import { makeNamedExportsPool } from "./namedExportsPool.ts"
import type { Contender } from "./types.ts"

export const make = (): Contender => makeNamedExportsPool((options) => new Tinypool(options))
