/** The poolifier cluster worker: the three operations as named task functions. */
import { ClusterWorker } from "poolifier"
import { crash, spin, square } from "./work.ts"

export default new ClusterWorker<number, number>({
  square: (n) => square(n ?? 0),
  spin: (iterations) => spin(iterations ?? 0),
  crash: (n) => crash(n ?? 0)
})
