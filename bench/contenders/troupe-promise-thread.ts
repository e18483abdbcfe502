/** Contender `troupe-promise-thread`: Troupe's Promise API on the thread backend. */
import { makeTroupePromise } from "./troupePromise.ts"

export const make = () => makeTroupePromise("thread")
