/** Contender `raw-fork-advanced`: `fork` with `serialization: "advanced"`. */
import { makeRawFork } from "./rawFork.ts"

export const make = () => makeRawFork("advanced")
