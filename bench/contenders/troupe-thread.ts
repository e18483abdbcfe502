/** Contender `troupe-thread`: Troupe's pool on worker threads. */
import { makeTroupe } from "./troupe.ts"

export const make = () => makeTroupe("thread")
