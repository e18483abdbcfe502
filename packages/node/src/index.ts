/**
 * @troupe/node: Troupe on Node.js, with forked child processes.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodeProcess from "./NodeProcess.ts"
