/** Contender `raw-fork-json`: `fork` with `serialization: "json"`. */
import { makeRawFork } from "./rawFork.ts"

export const make = () => makeRawFork("json")
