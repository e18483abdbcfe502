/** Contender `raw-fork-effect`: `raw-fork-json` with one `Effect.runPromiseWith` per task (see `rawThroughEffect.ts`). */
import { makeRawFork } from "./rawFork.ts"
import { makeRawThroughEffect } from "./rawThroughEffect.ts"

export const make = () => makeRawThroughEffect(makeRawFork("json"))
