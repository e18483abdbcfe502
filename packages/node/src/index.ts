/**
 * @troupe/node: Troupe on Node.js, with forked child processes and worker
 * threads.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodePool from "./NodePool.ts"
/** @since 0.1.0 */
export * as NodeProcess from "./NodeProcess.ts"
/** @since 0.1.0 */
export * as NodeProgress from "./NodeProgress.ts"
/** @since 0.1.0 */
export * as NodeThread from "./NodeThread.ts"
/** @since 0.1.0 */
export * as PromisePool from "./PromisePool.ts"
