/**
 * A forked child's synchronous send of its replies (`ChildPort.sendNow`).
 *
 * `process.send` serializes the frame and tries to write it to the channel's
 * socket at once; only what the socket does not take waits in the
 * channel's write queue. A frame whose write left that queue empty is in the
 * kernel when `process.send` returns: a `SIGKILL` of the child right after
 * cannot lose it, so the next run may start at once, with no promise and no
 * callback to wait for. When the write was queued, the returned promise
 * settles once the queue has drained (every frame sent so far is then in the
 * kernel). A frame that cannot be serialized throws, as `sendNow` must.
 *
 * Node's channel handle (with its `writeQueueSize`) sits under an internal
 * symbol of `process`; a Node version without it gets no `sendNow`, and the
 * runner waits for every send's callback as before. A write that fails (the
 * parent is gone: `EPIPE`) also empties the queue; the child's `disconnect`
 * guard ends it.
 *
 * @internal
 */

/** `process.send`, bound. */
type Send = (frame: unknown, handle: undefined, options: undefined, callback: (error: Error | null) => void) => boolean

/** The channel handle `process.send` writes to, when this Node version keeps it where we look. */
const channelHandle = (): { readonly writeQueueSize: number } | undefined => {
  const key = Object.getOwnPropertySymbols(process).find((symbol) => symbol.description === "kChannelHandle")
  const handle = key === undefined ? undefined : (process as unknown as Record<symbol, unknown>)[key]
  return typeof handle === "object" &&
    handle !== null &&
    typeof (handle as Record<string, unknown>).writeQueueSize === "number"
    ? (handle as { readonly writeQueueSize: number })
    : undefined
}

/** `sendNow` over `send` (`process.send`, bound), or `undefined` when the channel's write queue cannot be read. */
export const sendNow = (send: Send): ((frame: unknown) => Promise<void> | undefined) | undefined => {
  const channel = channelHandle()
  if (channel === undefined) return undefined
  /** Those waiting for the write queue to drain. */
  let waiting: Array<() => void> = []
  // Every send's callback (by `nextTick` for a write that went out at once, else when libuv wrote it, or failed).
  const written = () => {
    if (waiting.length === 0 || channel.writeQueueSize > 0) return
    const drained = waiting
    waiting = []
    for (const resolve of drained) resolve()
  }
  return (frame) => {
    send(frame, undefined, undefined, written)
    if (channel.writeQueueSize === 0) return undefined
    return new Promise<void>((resolve) => {
      waiting.push(resolve)
    })
  }
}
