/** The poolifier thread worker: the three operations as named task functions. */
import { ThreadWorker } from "poolifier"
import { crash, spin, square } from "./work.ts"

export default new ThreadWorker<number, number>({
  square: (n) => square(n ?? 0),
  spin: (iterations) => spin(iterations ?? 0),
  crash: (n) => crash(n ?? 0)
})
