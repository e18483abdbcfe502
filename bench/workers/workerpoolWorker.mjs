/** The workerpool worker (process and thread): registers the three operations. */
import workerpool from "workerpool"
import { crash, spin, square } from "./work.mjs"

workerpool.worker({ square, spin, crash })
