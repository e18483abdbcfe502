/**
 * The replies a child holds back, and the rules for sending them.
 *
 * Sending one message per reply costs a wake-up on each side per task; a
 * stream of tiny tasks spends most of its time there. So a child batches its
 * replies, but only as far as its parent can still tell, when the child
 * dies, which runs may have run (it must never run a task twice):
 * - every reply is sent before the first run of a newer message starts (the
 *   caller flushes at each message's start), so the runs a dead child may
 *   have run all belong to the oldest message it had not fully answered;
 * - replies are held back only by a child serving one run at a time, only
 *   while the next run is of a task whose last run was short, for at most
 *   1 ms and 64 replies: a long run never delays the replies before it;
 * - the parent is told with `Holding` frames when the child starts and stops
 *   holding replies back: a child that was not holding when it died had sent
 *   every reply but the running one's.
 *
 * Plain successes go out as one compact `WireDone` (ids and values), the
 * other replies as `Replies`.
 *
 * @internal
 */
import { type Addressed, type ChildMessage, type Reply, type SpanRecord, wireDone } from "./frame.ts"

/** A run shorter than this lets the replies before the next run of its task be held back. */
const shortRunMs = 0.1
/** How long, and how many, replies may be held back. */
const maxHoldMs = 1
const maxHeldReplies = 64

export interface ReplyBatcher {
  /** How many replies are held. */
  readonly size: () => number
  /** Holds a finished run's reply until the next `flush`. */
  readonly add: (id: number, reply: Reply, spans: ReadonlyArray<SpanRecord> | undefined) => void
  /** Sends every held reply; the promise of the last send, if anything was sent. */
  readonly flush: () => Promise<void> | undefined
  /**
   * Before a run starts: sends what is held unless it may wait behind this
   * run, and tells the parent when that changes. `afterRun` is then called
   * with the run's id when it finishes.
   */
  readonly beforeRun: (id: number, task: string) => void
  /** A run finished: remembers whether its task's runs are short. */
  readonly afterRun: (id: number) => void
}

/**
 * `hold`: whether replies may be held back at all (a child serving one run
 * at a time); otherwise `beforeRun` sends them before every run. `rss`: the
 * resident set size to attach to a batch, when one is due.
 */
export const make = (options: {
  readonly send: (frame: ChildMessage) => Promise<void>
  readonly rss: () => number | undefined
  readonly hold: boolean
}): ReplyBatcher => {
  const { send, rss, hold } = options
  let replies: Array<Addressed> = []
  let doneIds: Array<number> = []
  let doneValues: Array<unknown> = []
  const size = () => replies.length + doneIds.length

  const shortTasks = new Set<string>()
  /** What the parent was last told: replies may be held back while a run executes. */
  let holding = false
  let heldSince = 0
  let currentId: number | undefined
  let currentTask = ""
  let currentStartedAt = 0

  const flush = (): Promise<void> | undefined => {
    if (size() === 0) return undefined
    const bytes = rss()
    let sent: Promise<void> | undefined
    if (doneIds.length > 0) {
      const ids = doneIds
      const values = doneValues
      doneIds = []
      doneValues = []
      sent = send(wireDone(ids, values, replies.length > 0 ? undefined : bytes))
    }
    if (replies.length > 0) {
      const batch = replies
      replies = []
      sent = send(
        bytes === undefined ? { _tag: "Replies", replies: batch } : { _tag: "Replies", replies: batch, rss: bytes }
      )
    }
    return sent
  }

  return {
    size,
    flush,
    add: (id, reply, spans) => {
      if (reply._tag === "Success" && spans === undefined) {
        doneIds.push(id)
        doneValues.push(reply.value)
      } else {
        replies.push(spans === undefined ? { id, reply } : { id, reply, spans })
      }
    },
    beforeRun: (id, task) => {
      if (!hold) {
        flush()
        return
      }
      const now = performance.now()
      const short = shortTasks.has(task)
      const held = size()
      if (held > 0 && (!short || held >= maxHeldReplies || now - heldSince > maxHoldMs)) flush()
      if (short !== holding && (size() > 0 || !short)) {
        holding = short
        void send({ _tag: "Holding", holding })
      }
      currentId = id
      currentTask = task
      currentStartedAt = now
    },
    afterRun: (id) => {
      if (currentId !== id) return
      const now = performance.now()
      if (now - currentStartedAt < shortRunMs) shortTasks.add(currentTask)
      else shortTasks.delete(currentTask)
      currentId = undefined
      if (size() === 0) heldSince = now
    }
  }
}
