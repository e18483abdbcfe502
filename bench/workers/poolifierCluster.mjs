/** The poolifier cluster worker: the three operations as named task functions. */
import { ClusterWorker } from "poolifier"
import { crash, spin, square } from "./work.mjs"

export default new ClusterWorker({
  square: (/** @type {number | undefined} */ n) => square(n ?? 0),
  spin: (/** @type {number | undefined} */ iterations) => spin(iterations ?? 0),
  crash: (/** @type {number | undefined} */ n) => crash(n ?? 0)
})
