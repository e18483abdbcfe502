/** Contender `troupe-process`: Troupe's pool on forked processes. */
import { makeTroupe } from "./troupe.ts"

export const make = () => makeTroupe("process")
