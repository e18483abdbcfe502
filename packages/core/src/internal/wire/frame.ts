/**
 * The wire frames between a parent and a child, as Schemas.
 *
 * Frames are plain JSON-safe objects. The parent sends `Run` (or a `Batch` of
 * them when many tasks go to one child at once) and `Interrupt`; the child
 * sends `Ready` once it listens, then one reply per `Run`, several at a time
 * when several finish together: plain successes in a compact `Done` frame,
 * the others in a `Replies` frame. On the hot path, runs and `Done` travel as
 * arrays (`WireRun`, `WireDone`, `WireOne`), which JSON reads faster. Each
 * side decodes what it receives with these Schemas, so a malformed frame is
 * a typed error at the boundary, never a crash.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { DefectFields, SpawnErrorReason } from "../../TroupeError.ts"

/** The caller's span, for a run the child should trace under it. */
export const TraceContext = Schema.Struct({ traceId: Schema.String, spanId: Schema.String, sampled: Schema.Boolean })
export type TraceContext = typeof TraceContext.Type

/** A span recorded in the child, sent back with the reply so the parent can replay it. */
export const SpanRecord = Schema.Struct({
  name: Schema.String,
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  startMs: Schema.Number,
  endMs: Schema.Number,
  attributes: Schema.Record(Schema.String, Schema.Unknown),
  ok: Schema.Boolean
})
export type SpanRecord = typeof SpanRecord.Type

/** A log line written in the child, for the parent's logger. */
export const LogRecord = Schema.Struct({
  level: Schema.String,
  message: Schema.String,
  annotations: Schema.Record(Schema.String, Schema.Unknown),
  atMs: Schema.Number
})
export type LogRecord = typeof LogRecord.Type

/**
 * Parent to child: run `task` from `module` with an encoded payload. The
 * parent names the module in the first run of a task it sends to a child, and
 * leaves it out of the later ones (the child remembers it).
 */
export const Run = Schema.Struct({
  _tag: Schema.tag("Run"),
  id: Schema.Number,
  module: Schema.optional(Schema.String),
  task: Schema.String,
  payload: Schema.Unknown,
  /** Ask the child to send `Started` just before it runs the task (for tasks that may be retried). */
  confirm: Schema.optional(Schema.Boolean),
  /** Trace the run under this span and send the spans back with the reply. */
  trace: Schema.optional(TraceContext),
  /** The run's attempt number (1 for the first; set on traced runs and on retries), for spans and `Process.current`. */
  attempt: Schema.optional(Schema.Number)
})
/** A run as sent. */
export type RunFrame = typeof Run.Type
/** A run with its module: as the parent builds it, and as the child resolves it. */
export type Run = RunFrame & { readonly module: string }

/** Parent to child: several runs in one message, started in order. */
export const Batch = Schema.Struct({ _tag: Schema.tag("Batch"), runs: Schema.Array(Run) })
export type Batch = typeof Batch.Type

/**
 * A run on the wire, compactly: `[id, task, payload]`, then the module,
 * `confirm` and `attempt` up to the last one that is set (`null` for an unset
 * one before it). A parent message that is an array is a list of these, read
 * as a `Batch`. JSON reads an array without the property names an object
 * carries, and that is most of the cost of a tiny task's frame.
 */
export const WireRun = Schema.Tuple([
  Schema.Number,
  Schema.String,
  Schema.Unknown,
  Schema.optionalKey(Schema.NullOr(Schema.String)),
  Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  Schema.optionalKey(Schema.Number)
])
export type WireRun = typeof WireRun.Type

/** Parent to child: stop run `id`, whether it is queued in the child or running. */
export const Interrupt = Schema.Struct({ _tag: Schema.tag("Interrupt"), id: Schema.Number })
export type Interrupt = typeof Interrupt.Type

/**
 * Parent to child: give back run `id` if it has not started (it waits in the
 * child's queue): the child answers `Withdrawn` and never runs it. A run that
 * started goes on, and its own reply answers.
 */
export const Withdraw = Schema.Struct({ _tag: Schema.tag("Withdraw"), id: Schema.Number })
export type Withdraw = typeof Withdraw.Type

/** Parent to child: finish what you hold, then exit with code 0. */
export const Close = Schema.Struct({ _tag: Schema.tag("Close") })
export type Close = typeof Close.Type

/** Parent to child: load these task modules now, ahead of their first task. */
export const Load = Schema.Struct({ _tag: Schema.tag("Load"), modules: Schema.Array(Schema.String) })
export type Load = typeof Load.Type

/**
 * Parent to child: start an instance of `actor` (whose behaviour `module`
 * registers) for `key`, from `snapshot` when there is one. The instance is
 * addressed as `ref` from then on; the reply to `id` says whether it started.
 * `exitWithActor`: the child exits when this actor stops (a supervised worker).
 * `args`: a dynamic child's start arguments, encoded (`Actor.startArgs`).
 */
export const Activate = Schema.Struct({
  _tag: Schema.tag("Activate"),
  id: Schema.Number,
  ref: Schema.Number,
  module: Schema.String,
  actor: Schema.String,
  key: Schema.String,
  snapshot: Schema.optional(Schema.Unknown),
  exitWithActor: Schema.optional(Schema.Boolean),
  args: Schema.optional(Schema.Unknown)
})
export type Activate = typeof Activate.Type

/** Parent to child: one message for actor instance `ref`, answered by a reply to `id`. */
export const Message = Schema.Struct({
  _tag: Schema.tag("Message"),
  id: Schema.Number,
  ref: Schema.Number,
  tag: Schema.String,
  payload: Schema.Unknown,
  /** A `tell`: the reply carries no value. */
  discard: Schema.optional(Schema.Boolean)
})
export type Message = typeof Message.Type

/** Parent to child: stop instance `ref` (its finalizers run), then reply to `id`. */
export const Passivate = Schema.Struct({ _tag: Schema.tag("Passivate"), id: Schema.Number, ref: Schema.Number })
export type Passivate = typeof Passivate.Type

export const ActorFrame = Schema.Union([Activate, Message, Passivate])
export type ActorFrame = typeof ActorFrame.Type

/** Parent to child: actor frames, handled in order. */
export const ActorFrames = Schema.Struct({ _tag: Schema.tag("Actors"), frames: Schema.Array(ActorFrame) })
export type ActorFrames = typeof ActorFrames.Type

/** What the child could read of a thrown value (codec.ts `describeDefect`): a `Defect` reply's, or its cause's. */
export const ThrownValue = Schema.Struct({
  name: Schema.String,
  message: Schema.String,
  stack: Schema.optional(Schema.String),
  /** Its own fields that are JSON-safe primitives (`code`, `errno`, ...), bounded. */
  fields: Schema.optional(DefectFields)
})
export type ThrownValue = typeof ThrownValue.Type

/** The outcome of one `Run`, encoded in the child. */
export const Reply = Schema.Union([
  Schema.Struct({ _tag: Schema.tag("Success"), value: Schema.Unknown }),
  Schema.Struct({ _tag: Schema.tag("Failure"), error: Schema.Unknown, stack: Schema.optional(Schema.String) }),
  Schema.Struct({
    _tag: Schema.tag("Defect"),
    ...ThrownValue.fields,
    /** The defect's `cause`, when it is an `Error`: read as the defect is, one level. */
    cause: Schema.optional(ThrownValue)
  }),
  Schema.Struct({ _tag: Schema.tag("SpawnFailed"), reason: SpawnErrorReason, message: Schema.String }),
  Schema.Struct({ _tag: Schema.tag("EncodeFailed"), message: Schema.String }),
  Schema.Struct({ _tag: Schema.tag("Interrupted") }),
  /** The run was given back unstarted (`Withdraw`): the pool runs it elsewhere; it never reaches a caller. */
  Schema.Struct({ _tag: Schema.tag("Withdrawn") }),
  /**
   * The encoded value was over the runner's `maxPayloadBytes`: a run's reply,
   * or (`direction: "payload"`) the payload of a call to a parent, refused
   * before it went up the channel.
   */
  Schema.Struct({
    _tag: Schema.tag("TooLarge"),
    size: Schema.Number,
    limit: Schema.Number,
    direction: Schema.optional(Schema.Literal("payload"))
  })
])
export type Reply = typeof Reply.Type

/** Defects an actor's host sends for a message it refused or could not deliver: none of them ends the instance. */
const notCrashes: ReadonlySet<string> = new Set([
  "RequestValidationError",
  "UnknownMessage",
  "ActorStopped",
  "ActorNotActive"
])

/**
 * Whether an actor's reply is a crash of its instance (its handler died),
 * rather than a refusal of the message: the host rebuilds a keyed instance,
 * and a supervised worker's process exits after sending it.
 */
export const isActorCrash = (reply: Reply): boolean => reply._tag === "Defect" && !notCrashes.has(reply.name)

/**
 * Parent to child: the answer to the child's `Call` `id`, encoded by the
 * service's Schemas (a `Reply`, as a task's).
 */
export const CallReply = Schema.Struct({ _tag: Schema.tag("CallReply"), id: Schema.Number, reply: Reply })
export type CallReply = typeof CallReply.Type

/** Parent to child: the child's `Call` `id` reached no service (`ChannelError`'s reasons). */
export const CallRefused = Schema.Struct({
  _tag: Schema.tag("CallRefused"),
  id: Schema.Number,
  reason: Schema.Literals(["ServiceClosed", "ParentGone"]),
  message: Schema.String
})
export type CallRefused = typeof CallRefused.Type

export const ParentFrame = Schema.Union([
  Run,
  Batch,
  Interrupt,
  Withdraw,
  Close,
  Load,
  ActorFrames,
  CallReply,
  CallRefused
])
export type ParentFrame = typeof ParentFrame.Type

/** One run's reply, addressed by the run's id. */
export const Addressed = Schema.Struct({
  id: Schema.Number,
  reply: Reply,
  /** An actor's persisted state after this message, encoded. */
  snapshot: Schema.optional(Schema.Unknown),
  /** The spans of a traced run, its own span first. */
  spans: Schema.optional(Schema.Array(SpanRecord))
})
export type Addressed = typeof Addressed.Type

/**
 * Plain successes on the wire, compactly: `[ids, values]`, then `rss` when
 * it is sent. A child message that is an array is one of these, read as a
 * `Done` frame.
 */
export const WireDone = Schema.Tuple([
  Schema.Array(Schema.Number),
  Schema.Array(Schema.Unknown),
  Schema.optionalKey(Schema.Number)
])
export type WireDone = typeof WireDone.Type

/**
 * One plain success on the wire, alone: `[id, value]`, read as a `Done`
 * frame of that run. It is what a worker sends after each run that succeeds
 * with nothing else to send, so it is the most frequent reply: one array to
 * copy and read instead of a `WireDone`'s three.
 */
export const WireOne = Schema.Tuple([Schema.Number, Schema.Unknown])
export type WireOne = typeof WireOne.Type

/**
 * Child to parent: call `method` of the service the parent serves as
 * `endpoint`, with a payload encoded by the method's Schema; answered by a
 * `CallReply` or `CallRefused` to `id`.
 */
export const Call = Schema.Struct({
  _tag: Schema.tag("Call"),
  id: Schema.Number,
  endpoint: Schema.String,
  method: Schema.String,
  payload: Schema.Unknown,
  /** Answer this call even when the child interrupts it: its caller waits for a late reply (`Interrupted` if none). */
  late: Schema.optional(Schema.Boolean)
})
export type Call = typeof Call.Type

/** Child to parent: the caller of `Call` `id` was interrupted; stop its work (no answer follows, unless the call was `late`). */
export const CallInterrupt = Schema.Struct({ _tag: Schema.tag("CallInterrupt"), id: Schema.Number })
export type CallInterrupt = typeof CallInterrupt.Type

/** Child to parent. `rss` is the child's resident set size in bytes, when asked for. */
export const ChildFrame = Schema.Union([
  Schema.Struct({ _tag: Schema.tag("Ready"), pid: Schema.Number }),
  Schema.Struct({ _tag: Schema.tag("Reply"), id: Schema.Number, reply: Reply }),
  Schema.Struct({ _tag: Schema.tag("Replies"), replies: Schema.Array(Addressed), rss: Schema.optional(Schema.Number) }),
  /** Plain successes, compactly: run `ids[i]` succeeded with the encoded value `values[i]`. */
  Schema.Struct({
    _tag: Schema.tag("Done"),
    ids: Schema.Array(Schema.Number),
    values: Schema.Array(Schema.Unknown),
    rss: Schema.optional(Schema.Number)
  }),
  Schema.Struct({ _tag: Schema.tag("ProtocolError"), message: Schema.String }),
  Schema.Struct({ _tag: Schema.tag("Started"), id: Schema.Number }),
  /** Log lines written in the child since the last such frame. */
  Schema.Struct({ _tag: Schema.tag("Logs"), entries: Schema.Array(LogRecord) }),
  /** Actor instance `ref` says it is healthy (`Actor.healthy`): its supervisor resets its backoff (Akka's manual reset). */
  Schema.Struct({ _tag: Schema.tag("Healthy"), ref: Schema.Number }),
  /** Actor instance `ref` stopped itself with an OTP reason (sent before a worker's child exits). */
  Schema.Struct({ _tag: Schema.tag("Stopped"), ref: Schema.Number, reason: Schema.Literals(["normal", "shutdown"]) }),
  /**
   * A child got a SIGTERM. A child hosting actors stops them (their finalizers run), then exits with code 0; its
   * parent reads that end as abnormal unless it sent the signal itself (someone else's `kill -TERM` is no deliberate
   * stop). A task child interrupts its runs (their finalizers run), then dies of the signal: the `Interrupted` replies
   * that follow are the signal's doing, and the exit, not they, settles those runs.
   */
  Schema.Struct({ _tag: Schema.tag("Terminating") }),
  Call,
  CallInterrupt
])
export type ChildFrame = typeof ChildFrame.Type

/** What a child sends: a frame, or plain successes as a `WireDone` (or one as a `WireOne`). */
export type ChildMessage = ChildFrame | WireDone | WireOne

const decodeChildFrameSchema = Schema.decodeUnknownExit(ChildFrame)
const decodeParentFrameSchema = Schema.decodeUnknownExit(ParentFrame)
const decodeWireRunsSchema = Schema.decodeUnknownExit(Schema.Array(WireRun))
const decodeWireSuccessesSchema = Schema.decodeUnknownExit(Schema.Union([WireDone, WireOne]))

/** `run` as a `WireRun` (naming its module when `withModule`), or `undefined` when only a `Run` object carries it (a traced run, or one without a payload, which JSON would turn into `null`). */
const toWireRun = (run: Run, withModule: boolean): WireRun | undefined => {
  if (run.trace !== undefined || run.payload === undefined) return undefined
  const module = withModule ? run.module : null
  if (run.attempt !== undefined) return [run.id, run.task, run.payload, module, run.confirm ?? null, run.attempt]
  if (run.confirm !== undefined) return [run.id, run.task, run.payload, module, run.confirm]
  return withModule ? [run.id, run.task, run.payload, run.module] : [run.id, run.task, run.payload]
}

/** A run without its module, for a worker that already has it. */
const withoutModule = (run: Run): RunFrame =>
  run.confirm === undefined && run.trace === undefined && run.attempt === undefined
    ? { _tag: "Run", id: run.id, task: run.task, payload: run.payload }
    : { ...run, module: undefined }

/**
 * The message that carries `runs` to a child: a list of `WireRun`s when every
 * run has one, else a `Run` or a `Batch`. `named(task)`: the child already
 * knows the module of `task`, so the run leaves it out.
 */
export const runsMessage = (runs: ReadonlyArray<Run>, named: (task: string) => boolean): unknown => {
  const wire: Array<WireRun> = new Array(runs.length)
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i]!
    const compact = toWireRun(run, !named(run.task))
    if (compact === undefined) {
      const frames = runs.map((run) => (named(run.task) ? withoutModule(run) : run))
      return frames.length === 1 ? frames[0] : { _tag: "Batch", runs: frames }
    }
    wire[i] = compact
  }
  return wire
}

/** `WireRun`s as the `Batch` they stand for (a loop, not a `map`: one call per message rather than per run). */
const fromWireRuns = (wire: ReadonlyArray<WireRun>): Batch => {
  const runs: Array<RunFrame> = new Array(wire.length)
  for (let i = 0; i < wire.length; i++) {
    const run = wire[i]!
    runs[i] = {
      _tag: "Run",
      id: run[0],
      module: run[3] ?? undefined,
      task: run[1],
      payload: run[2],
      confirm: run[4] ?? undefined,
      attempt: run[5]
    }
  }
  return { _tag: "Batch", runs }
}

/** Plain successes as a `WireDone`. */
export const wireDone = (ids: Array<number>, values: Array<unknown>, rss: number | undefined): WireDone =>
  rss === undefined ? [ids, values] : [ids, values, rss]

const fromWireDone = (wire: WireDone): ChildFrame =>
  wire.length === 3
    ? { _tag: "Done", ids: wire[0], values: wire[1], rss: wire[2] }
    : { _tag: "Done", ids: wire[0], values: wire[1] }

const fromWireOne = (wire: WireOne): ChildFrame => ({ _tag: "Done", ids: [wire[0]], values: [wire[1]] })

const fromWireSuccesses = (wire: WireDone | WireOne): ChildFrame =>
  typeof wire[0] === "number" ? fromWireOne(wire as WireOne) : fromWireDone(wire as WireDone)

// The hot frames (a `Run` or `Batch` of plain runs, `Replies` of successes and typed failures) are checked by
// hand: a frame passes here only if it has exactly the shape its Schema accepts, and passes through unchanged
// (frames arrive freshly deserialized, so nothing else holds them). Anything else, malformed frames included,
// goes to the Schema, which decodes it or rejects it with its usual issue.
const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const isNumbers = (u: unknown): boolean => {
  if (!Array.isArray(u)) return false
  for (let i = 0; i < u.length; i++) if (typeof u[i] !== "number") return false
  return true
}

const isWireRun = (u: unknown): boolean =>
  Array.isArray(u) &&
  u.length >= 3 &&
  u.length <= 6 &&
  typeof u[0] === "number" &&
  typeof u[1] === "string" &&
  (u.length < 4 || u[3] === null || typeof u[3] === "string") &&
  (u.length < 5 || u[4] === null || typeof u[4] === "boolean") &&
  (u.length < 6 || typeof u[5] === "number")

const isWireRuns = (u: ReadonlyArray<unknown>): boolean => {
  for (let i = 0; i < u.length; i++) if (!isWireRun(u[i])) return false
  return true
}

const isWireOne = (u: ReadonlyArray<unknown>): boolean => u.length === 2 && typeof u[0] === "number"

const isWireDone = (u: ReadonlyArray<unknown>): boolean =>
  (u.length === 2 || (u.length === 3 && typeof u[2] === "number")) && isNumbers(u[0]) && Array.isArray(u[1])

const isPlainRun = (u: unknown): boolean => {
  if (!isObject(u)) return false
  return (
    u._tag === "Run" &&
    typeof u.id === "number" &&
    (u.module === undefined || typeof u.module === "string") &&
    typeof u.task === "string" &&
    "payload" in u &&
    (u.confirm === undefined || typeof u.confirm === "boolean") &&
    u.trace === undefined &&
    (u.attempt === undefined || typeof u.attempt === "number")
  )
}

const isPlainBatch = (u: Record<string, unknown>): boolean => {
  const runs = u.runs
  if (!Array.isArray(runs)) return false
  for (let i = 0; i < runs.length; i++) if (!isPlainRun(runs[i])) return false
  return true
}

const isPlainAddressed = (u: unknown): boolean => {
  if (!isObject(u) || typeof u.id !== "number" || u.spans !== undefined) return false
  const reply = u.reply
  if (!isObject(reply)) return false
  switch (reply._tag) {
    case "Success":
      return "value" in reply
    case "Failure":
      return "error" in reply && (reply.stack === undefined || typeof reply.stack === "string")
    default:
      return false
  }
}

const isPlainReplies = (u: Record<string, unknown>): boolean => {
  const replies = u.replies
  if (!Array.isArray(replies) || (u.rss !== undefined && typeof u.rss !== "number")) return false
  for (let i = 0; i < replies.length; i++) if (!isPlainAddressed(replies[i])) return false
  return true
}

const isPlainDone = (u: Record<string, unknown>): boolean =>
  isNumbers(u.ids) && Array.isArray(u.values) && (u.rss === undefined || typeof u.rss === "number")

/** A `Call` of the channel: the frame every call from a child starts with. */
const isPlainCall = (u: Record<string, unknown>): boolean =>
  u._tag === "Call" &&
  typeof u.id === "number" &&
  typeof u.endpoint === "string" &&
  typeof u.method === "string" &&
  "payload" in u

const decodeAddressedSchema = Schema.decodeUnknownExit(Addressed)
const decodeReplySchema = Schema.decodeUnknownExit(Reply)

/** The reply that stands for one the parent could not decode: its caller gets a `RemoteDefect`. */
export const malformedReply = (error: Schema.SchemaError): Reply => ({
  _tag: "Defect",
  name: "MalformedReply",
  message: `the child sent a reply that does not match the wire protocol: ${error.message}`
})

/** One reply of a batch; a malformed one that still names its run stands as `malformedReply`. */
const decodeAddressed = (u: unknown): Addressed | undefined => {
  const decoded = decodeAddressedSchema(u)
  if (Exit.isSuccess(decoded)) return decoded.value
  if (!isObject(u) || typeof u.id !== "number") return undefined
  const error = Cause.findErrorOption(decoded.cause)
  return error._tag === "Some" ? { id: u.id, reply: malformedReply(error.value) } : undefined
}

/**
 * A `Replies` or `Reply` frame in which some reply does not decode: each
 * reply is decoded on its own, so one bad reply fails only its own run. The
 * frame is refused only when a reply does not say which run it answers.
 */
const decodeEachReply = (u: Record<string, unknown>): ChildFrame | undefined => {
  if (u.rss !== undefined && typeof u.rss !== "number") return undefined
  if (u._tag === "Reply") {
    if (typeof u.id !== "number") return undefined
    const reply = decodeReplySchema(u.reply)
    if (Exit.isSuccess(reply)) return { _tag: "Reply", id: u.id, reply: reply.value }
    const error = Cause.findErrorOption(reply.cause)
    return error._tag === "Some" ? { _tag: "Reply", id: u.id, reply: malformedReply(error.value) } : undefined
  }
  if (u._tag !== "Replies" || !Array.isArray(u.replies)) return undefined
  const replies: Array<Addressed> = []
  for (const each of u.replies) {
    const addressed = decodeAddressed(each)
    if (addressed === undefined) return undefined
    replies.push(addressed)
  }
  return u.rss === undefined ? { _tag: "Replies", replies } : { _tag: "Replies", replies, rss: u.rss }
}

/** A hot child frame checked by hand (see above), or `undefined`: the Schema decides. */
const plainChildFrame = (u: unknown): ChildFrame | undefined => {
  if (Array.isArray(u)) {
    if (isWireOne(u)) return fromWireOne(u as unknown as WireOne)
    return isWireDone(u) ? fromWireDone(u as unknown as WireDone) : undefined
  }
  return isObject(u) &&
    ((u._tag === "Done" && isPlainDone(u)) || (u._tag === "Replies" && isPlainReplies(u)) || isPlainCall(u))
    ? (u as unknown as ChildFrame)
    : undefined
}

/** A child frame that is not a hot one, by its Schema; a frame with some bad reply fails only that reply's run. */
const decodeChildFrameBySchema = (u: unknown): Exit.Exit<ChildFrame, Schema.SchemaError> => {
  if (Array.isArray(u)) return Exit.map(decodeWireSuccessesSchema(u), fromWireSuccesses)
  const decoded = decodeChildFrameSchema(u)
  if (Exit.isSuccess(decoded) || !isObject(u)) return decoded
  const each = decodeEachReply(u)
  return each === undefined ? decoded : Exit.succeed(each)
}

export const decodeChildFrame = (u: unknown): Exit.Exit<ChildFrame, Schema.SchemaError> => {
  const plain = plainChildFrame(u)
  return plain === undefined ? decodeChildFrameBySchema(u) : Exit.succeed(plain)
}

/**
 * A child's frame as `decodeChildFrame` decodes it, or `undefined` when it
 * does not decode: the parent's receiving path, which needs no `Exit` per
 * frame (a malformed frame is refused whatever the issue).
 */
export const childFrameOf = (u: unknown): ChildFrame | undefined => {
  const plain = plainChildFrame(u)
  if (plain !== undefined) return plain
  const decoded = decodeChildFrameBySchema(u)
  return decoded._tag === "Success" ? decoded.value : undefined
}

export const decodeParentFrame = (u: unknown): Exit.Exit<ParentFrame, Schema.SchemaError> => {
  if (Array.isArray(u)) {
    return isWireRuns(u)
      ? Exit.succeed(fromWireRuns(u as ReadonlyArray<WireRun>))
      : Exit.map(decodeWireRunsSchema(u), fromWireRuns)
  }
  return isObject(u) &&
    ((u._tag === "Run" && isPlainRun(u)) ||
      (u._tag === "Batch" && isPlainBatch(u)) ||
      (u._tag === "CallReply" && isPlainAddressed(u)))
    ? Exit.succeed(u as unknown as ParentFrame)
    : decodeParentFrameSchema(u)
}
