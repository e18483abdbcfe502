/**
 * A call to an endpoint, from any process: run here when this process hosts
 * it, else sent up the channel to the parent as a `Call` frame, answered by a
 * `CallReply` or `CallRefused`. An interrupted caller sends `CallInterrupt`,
 * and the parent interrupts the call's work.
 *
 * A child's runner installs the link (`install`) with its port's `send`, and
 * hands it every answer the parent sends (`answer`). The link lives on
 * `globalThis`, like the endpoints, so the task modules of a child reach the
 * runner's channel whichever copy of this module they loaded. In a process
 * without a parent, a call to an endpoint it does not host fails with
 * `ServiceClosed`.
 *
 * A call may say what to do with an outcome that comes after its caller was
 * interrupted (`onLateReply`: a queue gives back the items of a reply nobody
 * reads). Its `Call` frame then asks for an answer even to an interruption,
 * and its pending entry stays as a tombstone until that answer comes; served
 * here, its handler runs in a fiber of its own whose exit is passed on.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { ChannelError } from "../../TroupeError.ts"
import * as ProcessContext from "../child/processContext.ts"
import * as Codec from "./codec.ts"
import * as Endpoints from "./endpoints.ts"
import type { CallRefused, CallReply, ChildMessage, Reply } from "./frame.ts"
import * as FrameSize from "./frameSize.ts"

type Answer = CallReply | CallRefused

interface Link {
  send: ((frame: ChildMessage) => Promise<void>) | undefined
  /** The runner's `maxPayloadBytes`: a call's payload over it is refused here, never sent (it could be a frame over the parent's limit, which ends the child). */
  maxPayloadBytes: number | undefined
  /** The most the parent takes in one frame (`ChildRunner.Options.maxFrameBytes`): a call that would not fit is refused here too. */
  maxFrameBytes: number | undefined
  readonly pending: Map<number, (answer: Answer) => void>
  next: number
}

const linkKey = Symbol.for("@troupe/core/Channel/parentLink")
const holder = globalThis as { [linkKey]?: Link }
if (holder[linkKey] === undefined) {
  holder[linkKey] = {
    send: undefined,
    maxPayloadBytes: undefined,
    maxFrameBytes: undefined,
    pending: new Map(),
    next: 0
  }
}
const link: Link = holder[linkKey]

/** Connects this process's calls to its parent (a child's runner does it at start), with the runner's limits. */
export const install = (
  send: (frame: ChildMessage) => Promise<void>,
  limits: { readonly maxPayloadBytes?: number | undefined; readonly maxFrameBytes?: number | undefined }
): void => {
  link.send = send
  link.maxPayloadBytes = limits.maxPayloadBytes
  link.maxFrameBytes = limits.maxFrameBytes
}

/**
 * The `TooLarge` answer to a call whose payload is over the runner's
 * `maxPayloadBytes`, or would make a frame over the parent's
 * `maxFrameBytes`; `undefined` when it may go.
 */
const refusedForSize = (payload: unknown): Reply | undefined => {
  const limit = link.maxPayloadBytes
  if (limit !== undefined) {
    const size = Codec.encodedSize(payload)
    if (size > limit) return { _tag: "TooLarge", size, limit, direction: "payload" }
  }
  const frameLimit = link.maxFrameBytes
  if (frameLimit === undefined) return undefined
  const cap = frameLimit - FrameSize.envelopeBytes
  const size = FrameSize.size(payload, cap) ?? 0
  return size > cap ? { _tag: "TooLarge", size, limit: frameLimit, direction: "payload" } : undefined
}

/** Settles the call the parent answered. */
export const answer = (frame: Answer): void => {
  const resume = link.pending.get(frame.id)
  if (resume === undefined) return
  link.pending.delete(frame.id)
  resume(frame)
}

const refused = (service: string, method: string, reason: ChannelError["reason"], message: string) =>
  new ChannelError({ service, method, reason, message })

const interrupted: Reply = { _tag: "Interrupted" }

/**
 * A local call whose late outcome matters: the handler runs in a fiber of its
 * own, so an interrupted caller still learns what it produced.
 */
const handleLocally = (
  local: Endpoints.Endpoint,
  method: string,
  payload: unknown,
  onLateReply: (reply: Reply) => void
): Effect.Effect<Reply, ChannelError> =>
  Effect.callback<Reply, ChannelError>((resume) => {
    const fiber = Effect.runFork(local.handle(method, payload))
    fiber.addObserver(resume)
    return Effect.sync(() => {
      fiber.addObserver((exit) => onLateReply(Codec.replyOfExit(exit)))
      fiber.interruptUnsafe()
    })
  })

const sendQuietly = (frame: ChildMessage): void => {
  try {
    void link.send?.(frame).catch(() => undefined)
  } catch {
    // The channel is closed: the parent is gone, and so is the work to interrupt.
  }
}

/**
 * Calls `method` of `endpoint` with an encoded payload; the `Reply` is the
 * method's outcome, encoded. `service` names the service in errors.
 *
 * With `onLateReply`, an interrupted call's outcome is not dropped: it is
 * passed to `onLateReply` once it is known (the method's reply if it had one
 * or still got one, else `Interrupted`).
 */
export const call = (
  service: string,
  endpoint: string,
  method: string,
  payload: unknown,
  onLateReply?: (reply: Reply) => void
): Effect.Effect<Reply, ChannelError> =>
  Effect.withFiber((fiber) =>
    // A call to the parent from a task module's top level is refused while the child imports the module, however it
    // was loaded: a preloaded module (a worker's bundle) runs before the runner links this process to its parent, so
    // its call could not be answered; one loaded for its first run is refused too, so a module behaves the same both ways.
    Endpoints.find(endpoint) === undefined &&
    ((link.send === undefined && ProcessContext.isBootstrapping()) || ProcessContext.inModuleImport(fiber))
      ? Effect.fail(
          refused(
            service,
            method,
            "ServiceClosed",
            `${service} cannot be called while this child imports its task modules: a call to the parent from a module's top level is not supported; make it in a task or a pool's initializer`
          )
        )
      : callNow(service, endpoint, method, payload, onLateReply)
  )

/**
 * `call`, started now: a call served here that completes at once gives its
 * outcome as an `Exit`, which the caller may read without running a fiber.
 */
export const callNow = (
  service: string,
  endpoint: string,
  method: string,
  payload: unknown,
  onLateReply?: (reply: Reply) => void
): Effect.Effect<Reply, ChannelError> => {
  const local = Endpoints.find(endpoint)
  if (local !== undefined) {
    return onLateReply === undefined || local.keepsLate === true
      ? local.handle(method, payload, onLateReply)
      : handleLocally(local, method, payload, onLateReply)
  }
  const send = link.send
  // Held to the runner's limits here, where every call that goes up passes (a call of this process's code, and one
  // it forwards for a child of its own): a frame over the parent's limit would end this process.
  if (send !== undefined) {
    const tooLarge = refusedForSize(payload)
    if (tooLarge !== undefined) return Effect.succeed(tooLarge)
  }
  if (send === undefined) {
    return Effect.fail(
      refused(
        service,
        method,
        "ServiceClosed",
        `${service} is not served here: its scope closed, or its handle came from another process tree`
      )
    )
  }
  return Effect.callback<Reply, ChannelError>((resume) => {
    const id = link.next++
    link.pending.set(id, (answer) =>
      resume(
        answer._tag === "CallReply"
          ? Effect.succeed(answer.reply)
          : Effect.fail(refused(service, method, answer.reason, answer.message))
      )
    )
    const gone = (error: unknown) => {
      if (!link.pending.delete(id)) return
      resume(Effect.fail(refused(service, method, "ParentGone", `the channel to the parent is closed: ${error}`)))
    }
    try {
      send(
        onLateReply === undefined
          ? { _tag: "Call", id, endpoint, method, payload }
          : { _tag: "Call", id, endpoint, method, payload, late: true }
      ).catch(gone)
    } catch (error) {
      gone(error)
    }
    return Effect.sync(() => {
      if (!link.pending.has(id)) return
      if (onLateReply === undefined) link.pending.delete(id)
      // A tombstone: the parent answers a late call even when it interrupts it.
      else link.pending.set(id, (answer) => onLateReply(answer._tag === "CallReply" ? answer.reply : interrupted))
      sendQuietly({ _tag: "CallInterrupt", id })
    })
  })
}

/**
 * A call with its codecs: encodes the payload (a bad one never leaves the
 * caller), calls, decodes the reply into the method's success, its typed
 * error or a boundary error. Shared by services, actor refs and pool handles.
 */
export const callWith = (
  service: string,
  endpoint: string,
  method: string,
  codable: Codec.Codable,
  payload: unknown,
  onLateSuccess?: (value: unknown) => void
): Effect.Effect<unknown, unknown> => {
  const encoded = Codec.encodePayloadExit(codable, payload)
  if (Exit.isFailure(encoded)) return encoded
  const onLateReply =
    onLateSuccess === undefined
      ? undefined
      : (reply: Reply) => {
          if (reply._tag !== "Success") return
          const decoded = Codec.decodeReply(codable, { module: service }, reply)
          if (Exit.isSuccess(decoded)) onLateSuccess(decoded.value)
        }
  return call(service, endpoint, method, encoded.value, onLateReply).pipe(
    Effect.flatMap((reply) => Codec.decodeReply(codable, { module: service }, reply))
  )
}
