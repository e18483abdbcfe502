/** Contender `poolifier-cluster`: poolifier's `FixedClusterPool` (node:cluster processes). */
import { makePoolifier } from "./poolifier.ts"

export const make = () => makePoolifier("cluster")
