/**
 * Whether the current fiber serves a call a child made, set by the
 * parent's call server (`parent/callServer.ts`) and read by a pool's calls.
 *
 * @internal
 */
import * as Context from "effect/Context"

/**
 * Whether the current fiber serves a call a child made. What it submits to a
 * pool may be awaited by a task that holds one of that pool's workers, so
 * the pool never queues it in a worker behind another job (see
 * `Dispatcher.pump`): with a worker to spare, a task that fans out to its
 * own pool cannot wait behind itself.
 */
export const ServingChild = Context.Reference<boolean>("@troupe/core/Channel/ServingChild", {
  defaultValue: () => false
})
