/**
 * Encoding and decoding of task values at the process boundary.
 *
 * The parent encodes a payload before sending it (a bad payload never leaves
 * the caller) and decodes the reply; the child decodes the payload, runs the
 * handler and encodes its outcome as a `Reply`. All values use the JSON codec
 * of the task's Schemas, so what crosses the channel is plain JSON data; a
 * Schema that lets anything through (`Schema.Any`) has its encoded values
 * checked against the serialization contract (see contract.ts). Values of
 * plain Schemas skip Schema's parser (see asIs.ts).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Task from "../../Task.ts"
import {
  ArgumentEncodeError,
  PayloadTooLarge,
  RemoteDefect,
  ReplyValidationError,
  RequestValidationError,
  ResultEncodeError,
  SpawnError,
  type TaskCallError
} from "../../TroupeError.ts"
import { type AsIs, copiedBy, decodedAsIsBy, type Fits, notAsIs, snapshot, unchangedBy } from "./asIs.ts"
import * as Contract from "./contract.ts"
import type { Reply, ThrownValue } from "./frame.ts"

interface Codecs {
  readonly encodePayload: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  /** Schema's parser: each decoding site tries its `…DecodedAsIs` test first, so a value is read once. */
  readonly decodePayload: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly encodeSuccess: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly decodeSuccess: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly encodeError: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly decodeError: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  /** Whether a payload (a success value) is its own encoding and decoding (asIs.ts `unchangedBy`). */
  readonly payloadUnchanged: Fits
  readonly successUnchanged: Fits
  /** Whether an encoded payload (success value) decodes to itself (asIs.ts `decodedAsIsBy`): a superset of the above. */
  readonly payloadDecodedAsIs: Fits
  readonly successDecodedAsIs: Fits
  /** Whether each side's encoded values must be walked for the contract (decided once, from the Schema). */
  /** What the serialization contract checks of each encoded value (contract.ts `Check`). */
  readonly checkPayload: Contract.Check
  readonly checkSuccess: Contract.Check
  readonly checkError: Contract.Check
}

/**
 * What the codec needs of a task or an actor message: a name for errors and
 * the three Schemas. Tasks are codables; an actor's messages are adapted.
 */
export interface Codable {
  readonly name: string
  readonly payloadSchema: Schema.Top
  readonly successSchema: Schema.Top
  readonly errorSchema: Schema.Top
}

const cache = new WeakMap<Codable, Codecs>()

type SyncCodec = Schema.Codec<unknown, unknown, never, never>

const never = (): boolean => false

/** A codec that runs the parser only for what the shortcut does not pass on (asIs.ts). */
const withShortcut = (
  asIs: AsIs | undefined,
  codec: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
): ((u: unknown) => Exit.Exit<unknown, Schema.SchemaError>) => {
  if (asIs === undefined) return codec
  return (u) => {
    const passed = asIs(u)
    return passed === notAsIs ? codec(u) : Exit.succeed(passed)
  }
}

/**
 * The parser's encoder, for a Schema whose encoded values may hold the
 * caller's own objects: they are copied (asIs.ts `snapshot`), so that a
 * value goes as it was when it was encoded.
 */
const snapshotting = (
  holdsCallersObjects: boolean,
  codec: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
): ((u: unknown) => Exit.Exit<unknown, Schema.SchemaError>) => {
  if (!holdsCallersObjects) return codec
  return (u) => {
    const exit = codec(u)
    return exit._tag === "Success" ? Exit.succeed(snapshot(exit.value)) : exit
  }
}

/** The parser's encoder of a Schema's JSON codec, copying what it hands on as it is. */
const encoderOf = (schema: Schema.Top, codec: SyncCodec) =>
  snapshotting(Contract.mayHoldCallersObjects(schema), Schema.encodeUnknownExit(codec))

const codecsOf = (task: Codable): Codecs => {
  let codecs = cache.get(task)
  if (codecs === undefined) {
    const payload = Schema.toCodecJson(task.payloadSchema) as unknown as SyncCodec
    const success = Schema.toCodecJson(task.successSchema) as unknown as SyncCodec
    const error = Schema.toCodecJson(task.errorSchema) as unknown as SyncCodec
    const payloadUnchanged = unchangedBy(task.payloadSchema)
    const successUnchanged = unchangedBy(task.successSchema)
    const payloadDecodedAsIs = decodedAsIsBy(task.payloadSchema)
    const successDecodedAsIs = decodedAsIsBy(task.successSchema)
    codecs = {
      payloadUnchanged: payloadUnchanged ?? never,
      successUnchanged: successUnchanged ?? never,
      payloadDecodedAsIs: payloadDecodedAsIs ?? never,
      successDecodedAsIs: successDecodedAsIs ?? never,
      encodePayload: withShortcut(copiedBy(task.payloadSchema), encoderOf(task.payloadSchema, payload)),
      decodePayload: Schema.decodeUnknownExit(payload),
      encodeSuccess: withShortcut(copiedBy(task.successSchema), encoderOf(task.successSchema, success)),
      decodeSuccess: Schema.decodeUnknownExit(success),
      encodeError: encoderOf(task.errorSchema, error),
      decodeError: Schema.decodeUnknownExit(error),
      checkPayload: Contract.checkOf(task.payloadSchema),
      checkSuccess: Contract.checkOf(task.successSchema),
      checkError: Contract.checkOf(task.errorSchema)
    }
    cache.set(task, codecs)
  }
  return codecs
}

/**
 * Builds a task's codecs and runs each once, so that the parsers are compiled
 * before the first real value arrives (a fresh worker's first task is
 * otherwise slower than the rest).
 */
export const warm = (task: Codable): void => {
  const codecs = codecsOf(task)
  for (const codec of Object.values(codecs)) if (typeof codec === "function") codec(undefined)
}

const issueMessage = <E>(exit: Exit.Exit<unknown, E>): string => {
  if (Exit.isSuccess(exit)) return ""
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? String(error.value) : Cause.pretty(exit.cause)
}

/**
 * Encodes a payload with the task's Schema, on the caller's side: a payload
 * the Schema refuses is a `RequestValidationError`; one the Schema accepts
 * but that breaks the serialization contract (a `Map` under `Schema.Any`,
 * shared memory for a process) is an `ArgumentEncodeError` that says what and
 * where. `sharing` says whether the transport shares memory with its
 * children (threads).
 */
export const encodePayloadExit = (
  task: Codable,
  payload: unknown,
  sharing = false
): Exit.Exit<unknown, RequestValidationError | ArgumentEncodeError> => {
  // What `Schema.Any` lets through is read only by the contract's walk: a getter or a proxy that throws
  // there is a payload that cannot be sent, as it is for a reply (`encodedExit`), never a defect of the call.
  try {
    return checkedPayload(task, payload, sharing)
  } catch (error) {
    return Exit.fail(
      new ArgumentEncodeError({ task: task.name, message: `payload could not be read: ${defectText(error)}` })
    )
  }
}

const checkedPayload = (
  task: Codable,
  payload: unknown,
  sharing: boolean
): Exit.Exit<unknown, RequestValidationError | ArgumentEncodeError> => {
  const codecs = codecsOf(task)
  const exit = codecs.encodePayload(payload)
  if (Exit.isFailure(exit)) {
    return Exit.fail(new RequestValidationError({ task: task.name, message: issueMessage(exit) }))
  }
  if (codecs.checkPayload === "none") return exit as Exit.Exit<unknown>
  if (codecs.checkPayload === "depth") {
    const refused = Contract.depthRefusal(exit.value, "payload")
    return refused === undefined
      ? (exit as Exit.Exit<unknown>)
      : Exit.fail(new ArgumentEncodeError({ task: task.name, message: refused }))
  }
  const walked = Contract.walk(exit.value, "payload", sharing)
  if (walked.refused !== undefined) {
    return Exit.fail(new ArgumentEncodeError({ task: task.name, message: walked.refused }))
  }
  if (walked.undefinedFields) {
    const missing = missingKeys(codecs.decodePayload, exit.value, "payload")
    if (missing !== undefined) return Exit.fail(new ArgumentEncodeError({ task: task.name, message: missing }))
  }
  if (walked.transfers !== undefined) Contract.recordTransfers(exit.value, walked.transfers)
  return exit as Exit.Exit<unknown>
}

/**
 * Encodes a payload with the task's Schema, on the caller's side.
 */
export const encodePayload: (
  task: Codable,
  payload: unknown,
  sharing?: boolean
) => Effect.Effect<unknown, RequestValidationError | ArgumentEncodeError> = encodePayloadExit

/** Whether this child shares memory with its parent (a worker thread); set once by its `ChildRunner`. */
let childSharesMemory = false

/** Says whether this child shares memory with its parent: its replies may then hold shared memory. */
export const setChildSharesMemory = (sharing: boolean): void => {
  childSharesMemory = sharing
}

/**
 * Why an encoded value that holds fields set to `undefined` may not be sent
 * (`root` names it), or `undefined`: a process receives it without them, and
 * its Schema (`decode`) must still read it there, as a thread reads it with
 * them. Both backends refuse what one of them could not read.
 */
const missingKeys = (
  decode: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>,
  encoded: unknown,
  root: string
): string | undefined => {
  const received = decode(Contract.withoutUndefinedFields(encoded))
  return Exit.isSuccess(received)
    ? undefined
    : `${root}: a field set to undefined reaches a process as no field, which its Schema requires (leave it out, or make the field optional: Schema.optional); ${issueMessage(received)}`
}

/**
 * Checks an encoded reply value against the contract, in the child: the
 * message of an `EncodeFailed` reply, or `undefined` when it may be sent.
 */
const replyRefusal = (
  check: Contract.Check,
  decode: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>,
  encoded: unknown,
  root: string
): string | undefined => {
  if (check === "none") return undefined
  if (check === "depth") {
    const refused = Contract.depthRefusal(encoded, root)
    return refused === undefined ? undefined : `the ${root} cannot be sent: ${refused}`
  }
  const walked = Contract.walk(encoded, root, childSharesMemory)
  if (walked.refused !== undefined) return `the ${root} cannot be sent: ${walked.refused}`
  if (walked.undefinedFields) {
    const missing = missingKeys(decode, encoded, root)
    if (missing !== undefined) return `the ${root} cannot be sent: ${missing}`
  }
  if (walked.transfers !== undefined) Contract.recordTransfers(encoded, walked.transfers)
  return undefined
}

/**
 * The encoder of a value that crosses to a child outside a call: an actor's
 * persisted state (`Actor.persistedRef`, its snapshot travels with the reply
 * and starts the next instance) and a dynamic child's start arguments. The
 * JSON encoding of its Schema, checked against the serialization contract
 * as a payload or a reply is, so that a process and a thread receive the
 * same value. The encoded value, or why it cannot be sent (`root` names the
 * value in the message).
 */
export const contractEncoder = (
  schema: Schema.Top,
  root: string
): ((value: unknown) => Result.Result<unknown, string>) => {
  const codec = Schema.toCodecJson(schema) as unknown as SyncCodec
  const encode = Schema.encodeUnknownExit(codec)
  const decode = Schema.decodeUnknownExit(codec)
  const check = Contract.checkOf(schema)
  return (value) => {
    try {
      const encoded = encode(value)
      if (Exit.isFailure(encoded)) return Result.fail(`the ${root} did not match its Schema: ${issueMessage(encoded)}`)
      const refused = replyRefusal(check, decode, encoded.value, root)
      return refused === undefined ? Result.succeed(encoded.value) : Result.fail(refused)
    } catch (error) {
      return Result.fail(`the ${root} could not be encoded: ${defectText(error)}`)
    }
  }
}

/** Runs `read`, or gives `fallback` when it throws: a thrown value may throw again when it is read. */
const safely = <A>(read: () => A, fallback: A): A => {
  try {
    return read()
  } catch {
    return fallback
  }
}

/**
 * A value as text, whatever it is: a string as it is, a primitive as
 * `String` writes it, an object as its JSON (else a word for what it is).
 * Never throws, never calls a user's `toString`.
 */
export const textOf = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return value
    case "symbol":
      return safely(() => Symbol.prototype.toString.call(value), "Symbol()")
    case "object":
    case "function": {
      if (value === null) return "null"
      const json = safely(() => JSON.stringify(value) as string | undefined, undefined)
      return typeof json === "string" ? json : `[unreadable ${typeof value}]`
    }
    default:
      return String(value)
  }
}

/** A property of a value, as text when it is set, without letting a getter or a proxy throw out. */
/**
 * The longest text a child sends of its own (a log line, a defect's message
 * or stack), in characters: a longer one is cut, with a marker that says how
 * much was dropped. The parent bounds every message it takes from a child
 * anyway (`maxFrameBytes`); this keeps an honest child's long line, or an
 * error with a huge message, from costing it its worker.
 */
export const maxTextChars = 64 * 1024

/** `text`, cut to `maxTextChars` with a marker when it is longer. */
export const bounded = (text: string): string =>
  text.length <= maxTextChars
    ? text
    : `${text.slice(0, maxTextChars)}… [troupe: ${text.length - maxTextChars} more characters dropped]`

const fieldText = (value: object, key: string): string | undefined =>
  safely(() => {
    const field = (value as Record<string, unknown>)[key]
    return field === undefined ? undefined : textOf(field)
  }, undefined)

/** What can be read safely of a thrown value (frame.ts `ThrownValue`), and of its cause when that is an `Error`. */
export interface DefectDescription extends ThrownValue {
  readonly cause?: ThrownValue
}

/** At most this many fields of a thrown value cross, read from its first `fieldsRead` own enumerable keys. */
const maxFields = 32
const fieldsRead = 64
/** A longer string field is cut to this many characters (and `…`); a longer key is left out. */
const maxFieldText = 1024
const maxFieldKey = 128
/** Keys that are not fields: the description has its own, and `__proto__` would set a prototype. */
const notFields: ReadonlySet<string> = new Set(["name", "message", "stack", "cause", "__proto__"])

type Field = string | number | boolean | null

/** A field's value as it crosses: a JSON-safe primitive (a long string cut), else `undefined`. */
const fieldValue = (value: unknown): Field | undefined => {
  switch (typeof value) {
    case "string":
      return value.length > maxFieldText ? `${value.slice(0, maxFieldText)}…` : value
    case "number":
      return Number.isFinite(value) ? value : undefined
    case "boolean":
      return value
    case "object":
      return value === null ? null : undefined
    default:
      return undefined
  }
}

/**
 * The own enumerable fields of a thrown object whose values are JSON-safe
 * primitives, bounded (see the constants above); `undefined` when there are
 * none. A getter or a proxy that throws leaves out what it guards.
 */
const fieldsOf = (value: object): Record<string, Field> | undefined => {
  const keys = safely(() => Object.keys(value), [])
  const read = Math.min(keys.length, fieldsRead)
  let fields: Record<string, Field> | undefined
  let kept = 0
  for (let i = 0; i < read && kept < maxFields; i++) {
    const key = keys[i]!
    if (key.length > maxFieldKey || notFields.has(key)) continue
    const field = safely(() => fieldValue((value as Record<string, unknown>)[key]), undefined)
    if (field === undefined) continue
    fields ??= {}
    fields[key] = field
    kept++
  }
  return fields
}

/** A thrown value's description, with its fields when it has some. */
const withFields = (described: ThrownValue, fields: Record<string, Field> | undefined): ThrownValue =>
  fields === undefined ? described : { ...described, fields }

/** Whether a thrown value is an `Error` (or a look-alike), without letting a proxy throw out. */
const isError = (value: object): boolean => safely(() => value instanceof Error, false)

/** `describeDefect` without the cause: each text `bounded`. */
const readThrown = (defect: unknown): ThrownValue => {
  if (typeof defect !== "object" && typeof defect !== "function") {
    return { name: "NonErrorThrown", message: bounded(textOf(defect)) }
  }
  if (defect === null) return { name: "NonErrorThrown", message: "null" }
  const fields = fieldsOf(defect)
  if (!isError(defect)) return withFields({ name: "NonErrorThrown", message: bounded(textOf(defect)) }, fields)
  const name = bounded(fieldText(defect, "name") ?? "Error")
  const message = bounded(fieldText(defect, "message") ?? "")
  const stack = fieldText(defect, "stack")
  return withFields(stack === undefined ? { name, message } : { name, message, stack: bounded(stack) }, fields)
}

/**
 * Describes a defect (anything a handler threw or died with) without trusting
 * it: an `Error` (or a look-alike) gives its name, message and stack as text;
 * anything else is `NonErrorThrown` with the value as text. Either gives its
 * own fields that are JSON-safe primitives (`fieldsOf`), and an `Error` whose
 * `cause` is an `Error` gives that cause, described the same way (one level).
 * Throwing getters, throwing or revoked proxies, null-prototype objects and
 * symbols give what could be read, and this function never throws.
 */
export const describeDefect = (defect: unknown): DefectDescription => {
  const described = readThrown(defect)
  if (typeof defect !== "object" || defect === null || !isError(defect)) return described
  const cause = safely(() => (defect as Error).cause, undefined)
  return typeof cause === "object" && cause !== null && isError(cause)
    ? { ...described, cause: readThrown(cause) }
    : described
}

/** A defect as one line of text (its stack when it has one), for messages. */
export const defectText = (defect: unknown): string => {
  const { message, name, stack } = describeDefect(defect)
  return stack ?? `${name}: ${message}`
}

const defectReply = (defect: unknown): Reply => ({ _tag: "Defect", ...describeDefect(defect) })

const replyOfCause = (task: Codable, cause: Cause.Cause<unknown>): Reply => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) {
    const error = failure.success
    const codecs = codecsOf(task)
    const encoded = codecs.encodeError(error)
    if (Exit.isFailure(encoded)) {
      return { _tag: "EncodeFailed", message: `the error did not match the error Schema: ${issueMessage(encoded)}` }
    }
    const refused = replyRefusal(codecs.checkError, codecs.decodeError, encoded.value, "error")
    if (refused !== undefined) return { _tag: "EncodeFailed", message: refused }
    const stack = safely(() => (error instanceof Error ? fieldText(originOf(error), "stack") : undefined), undefined)
    return stack === undefined
      ? { _tag: "Failure", error: encoded.value }
      : { _tag: "Failure", error: encoded.value, stack }
  }
  const defect = Cause.findDefect(cause)
  if (Result.isSuccess(defect)) return defectReply(defect.success)
  return { _tag: "Defect", name: "Interrupted", message: `task ${task.name} was interrupted in the child` }
}

const successReply = (codecs: Codecs, value: unknown): Reply => {
  const encoded = codecs.encodeSuccess(value)
  if (Exit.isFailure(encoded)) {
    return { _tag: "EncodeFailed", message: `the result did not match the success Schema: ${issueMessage(encoded)}` }
  }
  const refused = replyRefusal(codecs.checkSuccess, codecs.decodeSuccess, encoded.value, "result")
  return refused === undefined ? { _tag: "Success", value: encoded.value } : { _tag: "EncodeFailed", message: refused }
}

const payloadRejected = (payload: Exit.Exit<unknown, unknown>): Reply => ({
  _tag: "Defect",
  name: "RequestValidationError",
  message: `the payload did not match the payload Schema in the child: ${issueMessage(payload)}`
})

/**
 * Runs a task in the child: decodes the payload, runs the handler, and
 * encodes the outcome. Never fails; every outcome is a `Reply`.
 */
export const runInChild = (
  task: Codable,
  encodedPayload: unknown,
  handler: (payload: any) => Effect.Effect<unknown, unknown, never> = (task as Task.Any).handler
): Effect.Effect<Reply> => {
  const codecs = codecsOf(task)
  const payload = codecs.payloadDecodedAsIs(encodedPayload)
    ? Exit.succeed(encodedPayload)
    : codecs.decodePayload(encodedPayload)
  if (Exit.isFailure(payload)) return Effect.succeed(payloadRejected(payload))
  return replyOf(
    task,
    Effect.suspend(() => asEffect(task, handler(payload.value)))
  )
}

/**
 * What a handler returned, when it is an Effect; anything else (from a
 * handler written without types: a value, a Promise, `undefined`) is a
 * defect that says what it was, for that run alone. (Effect's run loop
 * would throw on `undefined` or `null`, outside any fiber, and end the
 * worker.)
 */
const asEffect = <R>(
  task: Codable,
  returned: Effect.Effect<unknown, unknown, R>
): Effect.Effect<unknown, unknown, R> =>
  Effect.isEffect(returned)
    ? returned
    : Effect.die(new TypeError(`the handler of ${task.name} returned ${kindOf(returned)}, not an Effect`))

/** A value's kind, for a message: `undefined`, `null`, `a Promise`, `the number 9`. */
const kindOf = (value: unknown): string => {
  if (value === undefined || value === null) return String(value)
  if (typeof value === "object" || typeof value === "function") {
    const name = Contract.constructorName(value)
    return name === undefined ? `an ${typeof value}` : Contract.article(name)
  }
  return `the ${typeof value} ${textOf(value)}`
}

/**
 * Encodes an outcome; a value whose encoding throws (a getter or a proxy
 * that throws as the Schema reads it) is an `EncodeFailed` reply. The
 * common success, a value the success Schema leaves as it is, goes as it
 * is. No closure: this runs once per run.
 */
const encodedExit = (task: Codable, codecs: Codecs, exit: Exit.Exit<unknown, unknown>): Reply => {
  if (exit._tag === "Success") {
    const value = exit.value
    if (codecs.successUnchanged(value)) return { _tag: "Success", value }
  }
  try {
    return exit._tag === "Success" ? successReply(codecs, exit.value) : replyOfCause(task, exit.cause)
  } catch (error) {
    return { _tag: "EncodeFailed", message: `the outcome could not be encoded: ${defectText(error)}` }
  }
}

/** The reply to a handler's effect (or any outcome to send back encoded), once it has run. */
export const replyOf = <R = never>(
  task: Codable,
  effect: Effect.Effect<unknown, unknown, R>
): Effect.Effect<Reply, never, R> => {
  const codecs = codecsOf(task)
  return Effect.map(Effect.exit(effect), (exit) => encodedExit(task, codecs, exit))
}

/**
 * The reply of a fiber that ran `runInChild`: its reply, or, when the fiber
 * itself failed, `Interrupted` for an interruption and a `Defect` otherwise.
 */
export const replyOfExit = (exit: Exit.Exit<Reply, unknown>): Reply => {
  if (Exit.isSuccess(exit)) return exit.value
  const defect = Cause.findDefect(exit.cause)
  return Result.isSuccess(defect) ? defectReply(defect.success) : { _tag: "Interrupted" }
}

/**
 * `runInChild` without a fiber when it can: calls the handler at once, and
 * when the effect it returns is already complete (an `Exit`, as
 * `Effect.succeed` and `Effect.fail` build), returns the reply itself. Else
 * it returns the effect to run, which finishes the handler's effect. The
 * reply is the same either way: a throwing handler is a defect, as under
 * `Effect.suspend`. Only the handler's own synchronous body runs outside a
 * fiber; an effect it returns that still has work to do runs in one.
 */
export const replyInChild = (task: Task.Any, encodedPayload: unknown): Reply | Effect.Effect<Reply> =>
  replyNow(task, encodedPayload, task.handler)

/**
 * `replyInChild` for any codable and handler (a hosted service's method):
 * the reply itself when the handler's effect is already complete, else the
 * effect to run (it needs the handler's services `R`).
 */
export const replyNow = <R>(
  task: Codable,
  encodedPayload: unknown,
  handler: (payload: any) => Effect.Effect<unknown, unknown, R>
): Reply | Effect.Effect<Reply, never, R> => {
  const codecs = codecsOf(task)
  let payload = encodedPayload
  if (!codecs.payloadDecodedAsIs(encodedPayload)) {
    const decoded = codecs.decodePayload(encodedPayload)
    if (Exit.isFailure(decoded)) return payloadRejected(decoded)
    payload = decoded.value
  }
  let effect: Effect.Effect<unknown, unknown, R>
  try {
    effect = handler(payload)
  } catch (defect) {
    return defectReply(defect)
  }
  if (!isExit(effect)) return replyOf(task, asEffect(task, effect))
  return encodedExit(task, codecs, effect)
}

/**
 * `Exit.isExit` for the handler's effect, in one call rather than four: an
 * `Exit` carries this key (effect's `ExitTypeId`; codec.test.ts checks that
 * a completed effect is still seen as one).
 */
const isExit = (effect: Effect.Effect<unknown, unknown, unknown>): effect is Exit.Exit<unknown, unknown> =>
  typeof effect === "object" && effect !== null && "~effect/Exit" in effect

/**
 * A `Reply` for a task the child could not load.
 */
export const spawnFailedReply = (reason: SpawnError["reason"], message: string): Reply => ({
  _tag: "SpawnFailed",
  reason,
  message
})

/** The `RemoteStack` causes this process attached to typed errors it decoded: the stacks of where they were raised. */
const remoteStacks = new WeakSet<Error>()

/**
 * Where a typed error was raised: the error itself, or, for one this process decoded from a nested call's reply
 * and passes on, the remote stack it came with (its own stack is only where it was decoded).
 */
const originOf = (error: Error): Error => {
  const cause = error.cause
  return cause instanceof Error && remoteStacks.has(cause) ? cause : error
}

const attachRemoteStack = (error: unknown, stack: string | undefined): unknown => {
  if (stack !== undefined && error instanceof Error && error.cause === undefined) {
    const remote = new Error("remote stack")
    remote.name = "RemoteStack"
    remote.stack = stack
    remoteStacks.add(remote)
    Object.defineProperty(error, "cause", { value: remote, configurable: true, writable: true })
  }
  return error
}

/** A `RemoteDefect` of what the child read of a thrown value. */
const remoteDefect = (task: string, thrown: ThrownValue): RemoteDefect => {
  const { fields, message, name, stack } = thrown
  return new RemoteDefect({
    task,
    name,
    message,
    ...(stack === undefined ? {} : { stack }),
    ...(fields === undefined ? {} : { fields })
  })
}

/**
 * Decodes a child's reply on the parent's side into the task's success, its
 * typed error, or one of the boundary errors.
 */
export const decodeReply = <A, E>(
  task: Codable,
  run: { readonly module: string },
  reply: Reply
): Exit.Exit<A, E | TaskCallError> => {
  const codecs = codecsOf(task)
  switch (reply._tag) {
    case "Success": {
      if (codecs.successDecodedAsIs(reply.value)) return Exit.succeed(reply.value) as Exit.Exit<A>
      const value = codecs.decodeSuccess(reply.value)
      return Exit.isSuccess(value)
        ? (value as Exit.Exit<A>)
        : Exit.fail(
            new ReplyValidationError({ task: task.name, message: `invalid success value: ${issueMessage(value)}` })
          )
    }
    case "Failure": {
      const error = codecs.decodeError(reply.error)
      return Exit.isSuccess(error)
        ? Exit.fail(attachRemoteStack(error.value, reply.stack) as E)
        : Exit.fail(
            new ReplyValidationError({ task: task.name, message: `invalid error value: ${issueMessage(error)}` })
          )
    }
    case "Defect": {
      const defect = remoteDefect(task.name, reply)
      if (reply.cause !== undefined) {
        Object.defineProperty(defect, "cause", {
          value: remoteDefect(task.name, reply.cause),
          configurable: true,
          writable: true
        })
      }
      return Exit.fail(defect)
    }
    case "SpawnFailed":
      return Exit.fail(
        new SpawnError({ reason: reply.reason, module: run.module, task: task.name, message: reply.message })
      )
    case "EncodeFailed":
      return Exit.fail(new ResultEncodeError({ task: task.name, message: reply.message }))
    case "Interrupted":
    case "Withdrawn":
      return Exit.interrupt()
    case "TooLarge":
      return Exit.fail(
        new PayloadTooLarge({
          task: task.name,
          direction: reply.direction ?? "reply",
          size: reply.size,
          limit: reply.limit
        })
      )
  }
}

/** UTF-8 bytes of a string, without encoding it. */
export const utf8Length = (text: string): number => {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) bytes += 1
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair: 4 bytes for 2 code units.
      bytes += 1
      i++
    } else bytes += 2
  }
  return bytes
}

/** The size of an encoded value on the wire (its JSON), in UTF-8 bytes. */
export const encodedSize = (encoded: unknown): number => utf8Length(JSON.stringify(encoded) ?? "")

/** Refuses a payload over `limit` bytes, in the caller. */
export const checkPayloadSize = (
  task: Codable,
  encoded: unknown,
  limit: number | undefined
): PayloadTooLarge | undefined => {
  if (limit === undefined) return undefined
  const size = encodedSize(encoded)
  return size > limit ? new PayloadTooLarge({ task: task.name, direction: "payload", size, limit }) : undefined
}

type WireRefusal = RequestValidationError | ArgumentEncodeError | PayloadTooLarge

/** A payload `encodeForWire` refuses, with the failure its caller gets: no encoded payload is one (internal class). */
export class Refused {
  readonly exit: Exit.Exit<never, WireRefusal>
  constructor(exit: Exit.Exit<never, WireRefusal>) {
    this.exit = exit
  }
}

/**
 * A payload as it goes on the wire, in the caller: encoded by its Schema
 * (`encodePayloadExit`), within `limit` bytes (`checkPayloadSize`); or a
 * `Refused`. A payload that encodes to `undefined` (`Schema.Any` given
 * `undefined`) is refused: JSON cannot carry it, and the run would reach the
 * worker without one. It runs once per call: a payload that is its own
 * encoding (a number for `Schema.Number`) builds no `Exit`.
 */
export const encodeForWire = (
  task: Codable,
  payload: unknown,
  sharing: boolean,
  limit: number | undefined
): unknown => {
  let encoded = payload
  if (!codecsOf(task).payloadUnchanged(payload)) {
    const exit = encodePayloadExit(task, payload, sharing)
    if (exit._tag === "Failure") return new Refused(exit as Exit.Exit<never, WireRefusal>)
    encoded = exit.value
  }
  if (encoded === undefined) {
    const message =
      "the payload encodes to undefined, which no worker can receive (use Schema.Void or Schema.UndefinedOr)"
    return new Refused(Exit.fail(new ArgumentEncodeError({ task: task.name, message })))
  }
  if (limit === undefined) return encoded
  const tooLarge = checkPayloadSize(task, encoded, limit)
  return tooLarge === undefined ? encoded : new Refused(Exit.fail(tooLarge))
}
