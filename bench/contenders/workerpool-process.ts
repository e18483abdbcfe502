/** Contender `workerpool-process`: workerpool on `child_process.fork`. */
import { makeWorkerpool } from "./workerpool.ts"

export const make = () => makeWorkerpool("process")
