/** Contender `piscina`: a thread pool with `minThreads = maxThreads = size`. */
import { Piscina } from "piscina"
import { makeNamedExportsPool } from "./namedExportsPool.ts"
import type { Contender } from "./types.ts"

export const make = (): Contender => makeNamedExportsPool((options) => new Piscina(options))
