/** Contender `poolifier-thread`: poolifier's `FixedThreadPool`. */
import { makePoolifier } from "./poolifier.ts"

export const make = () => makePoolifier("thread")
