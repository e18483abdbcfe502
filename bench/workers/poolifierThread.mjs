/** The poolifier thread worker: the three operations as named task functions. */
import { ThreadWorker } from "poolifier"
import { crash, spin, square } from "./work.mjs"

export default new ThreadWorker({
  square: (/** @type {number | undefined} */ n) => square(n ?? 0),
  spin: (/** @type {number | undefined} */ iterations) => spin(iterations ?? 0),
  crash: (/** @type {number | undefined} */ n) => crash(n ?? 0)
})
