/** Contender `workerpool-thread`: workerpool on `worker_threads`. */
import { makeWorkerpool } from "./workerpool.ts"

export const make = () => makeWorkerpool("thread")
