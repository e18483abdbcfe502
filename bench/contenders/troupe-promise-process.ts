/** Contender `troupe-promise-process`: Troupe's Promise API on the process backend. */
import { makeTroupePromise } from "./troupePromise.ts"

export const make = () => makeTroupePromise("process")
