/**
 * The replies a child has not sent yet, and how they go out.
 *
 * A child sends every reply before the next run starts, and the runner waits
 * until the channel has taken it (`ChildRunner`): when a worker is killed
 * outright (`SIGKILL`, the out-of-memory killer), every finished run's reply
 * has already reached its parent, so a crash costs only the runs that were
 * running. Replies that finish while no run starts (concurrent runs ending in
 * one turn of the event loop) go out together: plain successes as one
 * compact `WireDone` (ids and values; a success alone as a `WireOne`), the
 * other replies as `Replies`. An actor server batches its replies here too,
 * all as `Replies` (an actor's reply may carry its persisted state).
 *
 * Under a frame limit (`maxFrameBytes`: a forked child's parent kills a
 * child that sends a bigger frame) each reply is measured as it is kept
 * (`frameSize`: a cheap bound, the exact size only when the bound is over):
 * one that could not go even alone is replaced by a `TooLarge` reply, so
 * only its own caller fails (`PayloadTooLarge`) and the worker keeps
 * serving; replies that would not fit together go one frame each.
 *
 * A frame the channel refuses (a value that cannot be serialized or cloned)
 * is sent again one reply at a time, and a reply the channel refuses alone
 * is replaced by an `EncodeFailed` reply: only its own caller fails
 * (`ResultEncodeError`), and the worker keeps serving. A channel that refuses
 * even that small frame is broken, and its caller would wait for ever:
 * `onLost` then ends the child, and the parent settles what it held as for
 * any crash. Nothing here throws or rejects.
 *
 * @internal
 */
import { defectText } from "../wire/codec.ts"
import { type Addressed, type ChildMessage, type Reply, type SpanRecord, wireDone } from "../wire/frame.ts"
import * as FrameSize from "../wire/frameSize.ts"

type Send = (frame: ChildMessage) => Promise<void>

/**
 * Sends a frame; resolves with `undefined` once the channel has taken it, or
 * with why it did not (a `send` that throws or rejects). Never rejects.
 */
export const sendSafely = (send: Send, frame: ChildMessage): Promise<string | undefined> => {
  try {
    return send(frame).then(
      () => undefined,
      (error: unknown) => defectText(error)
    )
  } catch (error) {
    return Promise.resolve(defectText(error))
  }
}

/** What stands for a reply the channel refused (`why`): its caller gets a `ResultEncodeError`. */
export const unsendable = (why: string): Reply => ({
  _tag: "EncodeFailed",
  message: `the reply could not be sent to the parent: ${why}`
})

/**
 * Sends replies one frame each; one the channel refuses goes as
 * `EncodeFailed`, and one refused even so is lost (`onLost`, with why).
 */
const sendOneByOne = (send: Send, replies: ReadonlyArray<Addressed>, onLost: (why: string) => void): Promise<void> =>
  Promise.all(
    replies.map((addressed) =>
      sendSafely(send, { _tag: "Replies", replies: [addressed] }).then((why) =>
        why === undefined
          ? undefined
          : sendSafely(send, { _tag: "Replies", replies: [{ id: addressed.id, reply: unsendable(why) }] }).then(
              (lost) => (lost === undefined ? undefined : onLost(lost))
            )
      )
    )
  ).then(() => undefined)

const success = (id: number, value: unknown): Addressed => ({ id, reply: { _tag: "Success", value } })

/** What stands for a reply of `size` bytes, over what a frame of at most `limit` bytes can carry. */
const tooLarge = (size: number, limit: number): Reply => ({ _tag: "TooLarge", size, limit })

/**
 * The same, for a caller whose errors have no `PayloadTooLarge` (an actor's
 * ask): the reply could not be sent (`ResultEncodeError`), and why.
 */
export const tooLargeToSend = (size: number, limit: number): Reply =>
  unsendable(`it is ${size} bytes, over the limit of ${limit} bytes for one frame (maxFrameBytes)`)

/**
 * `reply`, to go alone in a frame of at most `maxFrameBytes` (`undefined`:
 * no bound): over it, the `TooLarge` reply that stands for it.
 */
export const fitted = (reply: Reply, maxFrameBytes: number | undefined): Reply => {
  if (maxFrameBytes === undefined) return reply
  const cap = maxFrameBytes - FrameSize.envelopeBytes
  const bytes = FrameSize.size(reply, cap) ?? 0
  return bytes > cap ? tooLarge(bytes, maxFrameBytes) : reply
}

export interface ReplyBatcher {
  /** How many replies wait to be sent. */
  readonly size: () => number
  /** Keeps a finished run's reply (with its spans, or an actor's persisted state) until the next `flush`. */
  readonly add: (id: number, reply: Reply, spans: ReadonlyArray<SpanRecord> | undefined, snapshot?: unknown) => void
  /**
   * Sends every reply kept; resolves once the channel has taken them all
   * (`undefined` when there was nothing to send, or when a `sendNow`
   * channel took every frame as it was handed over). The frames are handed
   * to the channel before `flush` returns.
   */
  readonly flush: () => Promise<void> | undefined
}

/**
 * `rss`: the resident set size to attach to a batch, when one is due.
 * `compact: false` sends every reply as `Replies`, none as `WireDone` (an
 * actor host reads only `Replies`). `sendNow`: the channel's synchronous
 * send, when it has one (`ChildPort.sendNow`): a frame it takes needs no
 * promise, and `flush` returns `undefined`. `onLost`: a reply could not be
 * sent at all (the channel refused its `EncodeFailed` too); the caller ends
 * the child. `maxFrameBytes`: the most the parent takes in one frame
 * (`undefined`: no bound, a worker thread's channel); `oversized`: what
 * stands for a reply over it (default: `TooLarge`).
 */
export const make = (options: {
  readonly send: Send
  readonly sendNow?: ((frame: ChildMessage) => void) | undefined
  readonly rss: () => number | undefined
  readonly compact?: boolean | undefined
  readonly onLost: (why: string) => void
  readonly maxFrameBytes?: number | undefined
  readonly oversized?: ((size: number, limit: number) => Reply) | undefined
}): ReplyBatcher => {
  const { send, sendNow, rss, onLost, maxFrameBytes } = options
  const oversized = options.oversized ?? tooLarge
  let replies: Array<Addressed> = []
  let doneIds: Array<number> = []
  let doneValues: Array<unknown> = []
  const size = () => replies.length + doneIds.length
  /** The most one reply may take in a frame, its envelope aside; `undefined`: no bound. */
  const cap = maxFrameBytes === undefined ? undefined : maxFrameBytes - FrameSize.envelopeBytes
  /** A bound of the bytes the kept replies take together (kept under a frame limit only). */
  let keptBytes = 0
  /**
   * Under a frame limit, the size of `addressed` when it is over what one
   * frame can carry, else `undefined` (its size then counted to `keptBytes`).
   * A reply without JSON passes: the channel refuses it itself (`EncodeFailed`).
   */
  const oversize = (addressed: Addressed, cap: number): number | undefined => {
    const bytes = FrameSize.size(addressed, cap) ?? 0
    if (bytes > cap) return bytes
    keptBytes += bytes
    return undefined
  }
  /**
   * The `WireOne` of a lone plain success on a `sendNow` channel, which
   * copies a frame before it returns: one frame for every such reply (the
   * reply a worker thread sends after each run).
   */
  const lone: [number, unknown] = [0, undefined]

  /** Sends `frame`; if the channel refuses it, `oneByOne` sends its replies again apart. `undefined`: taken now. */
  const sendFrame = (frame: ChildMessage, oneByOne: () => Promise<void>): Promise<void> | undefined => {
    try {
      if (sendNow === undefined) return send(frame).then(undefined, oneByOne)
      sendNow(frame)
      return undefined
    } catch {
      return oneByOne()
    }
  }

  /** Sends the lone success `id` as a `WireOne`; `undefined`: taken now. */
  const sendOne = (id: number, value: unknown): Promise<void> | undefined => {
    if (sendNow === undefined) return sendFrame([id, value], () => sendOneByOne(send, [success(id, value)], onLost))
    lone[0] = id
    lone[1] = value
    try {
      sendNow(lone)
      return undefined
    } catch {
      return sendOneByOne(send, [success(id, value)], onLost)
    } finally {
      lone[1] = undefined
    }
  }

  const flush = (): Promise<void> | undefined => {
    if (replies.length === 0 && doneIds.length === 0) return undefined
    if (cap !== undefined && keptBytes > cap) return flushApart()
    keptBytes = 0
    const bytes = rss()
    if (bytes === undefined && doneIds.length === 1 && replies.length === 0) {
      const id = doneIds.pop()!
      return sendOne(id, doneValues.pop())
    }
    let first: Promise<void> | undefined
    let second: Promise<void> | undefined
    if (doneIds.length > 0) {
      const ids = doneIds
      const values = doneValues
      doneIds = []
      doneValues = []
      const asReplies = () => ids.map((id, i) => success(id, values[i]))
      first = sendFrame(wireDone(ids, values, replies.length > 0 ? undefined : bytes), () =>
        sendOneByOne(send, asReplies(), onLost)
      )
    }
    if (replies.length > 0) {
      const batch = replies
      replies = []
      second = sendFrame(
        bytes === undefined ? { _tag: "Replies", replies: batch } : { _tag: "Replies", replies: batch, rss: bytes },
        () => sendOneByOne(send, batch, onLost)
      )
    }
    if (first === undefined) return second
    return second === undefined ? first : Promise.all([first, second]).then(() => undefined)
  }

  /** The replies kept, each in a frame of its own: together they may be over the frame limit. */
  const flushApart = (): Promise<void> => {
    const apart = doneIds.map((id, i) => success(id, doneValues[i]))
    for (const addressed of replies) apart.push(addressed)
    replies = []
    doneIds = []
    doneValues = []
    keptBytes = 0
    return sendOneByOne(send, apart, onLost)
  }

  /**
   * Keeps `addressed`, or its stand-in (`oversized`) when it is over the
   * frame limit; the stand-in keeps an actor's persisted state if that fits.
   */
  const keep = (addressed: Addressed) => {
    const over = cap === undefined ? undefined : oversize(addressed, cap)
    if (over === undefined) {
      replies.push(addressed)
      return
    }
    const standIn: Addressed = { id: addressed.id, reply: oversized(over, maxFrameBytes!) }
    const withState: Addressed | undefined =
      addressed.snapshot === undefined ? undefined : { ...standIn, snapshot: addressed.snapshot }
    if (withState !== undefined && oversize(withState, cap!) === undefined) replies.push(withState)
    else {
      // Counted too (it always fits): many stand-ins in one batch add up.
      oversize(standIn, cap!)
      replies.push(standIn)
    }
  }

  /** An actor's reply, with its persisted state when it has one. */
  const addAddressed = (
    id: number,
    reply: Reply,
    _spans: ReadonlyArray<SpanRecord> | undefined,
    snapshot?: unknown
  ) => {
    keep(snapshot === undefined ? { id, reply } : { id, reply, snapshot })
  }

  return {
    size,
    flush,
    add:
      options.compact === false
        ? addAddressed
        : (id, reply, spans) => {
            if (reply._tag !== "Success" || spans !== undefined)
              return keep(spans === undefined ? { id, reply } : { id, reply, spans })
            if (cap !== undefined) {
              // A success's value is bounded here, with no call but the walk (a number, a short string: one step).
              const upper = FrameSize.bound(reply.value, cap)
              if (upper > cap) return keep({ id, reply })
              keptBytes += upper + FrameSize.replyBytes
            }
            doneIds.push(id)
            doneValues.push(reply.value)
          }
  }
}
