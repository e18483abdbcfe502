/** The piscina and tinypool worker: one named export per operation (picked with `run(arg, { name })`). */
import { crash, spin, square } from "./work.mjs"

export { crash, spin, square }
