/**
 * The size of what one node sends another, and the payloads a caller
 * refuses before they reach the cluster's serializer.
 *
 * The cluster's socket serialization frames each message and refuses a
 * frame over its limit on the receiving side; a frame over it used to leave
 * the connection's parser spent, failing every later message between the two
 * nodes. So every node made by `ClusterNode` sets the same frame limit
 * (`maxFrameBytes`), and a caller refuses a payload whose JSON is over
 * `maxPayloadBytes`, a quarter of it (the binary form of a value can be
 * larger than its JSON: a short decimal number, for one), before anything
 * is sent: a pool call with `PayloadTooLarge`, an ask with
 * `ArgumentEncodeError` (an `AskError` has no `PayloadTooLarge`).
 *
 * @internal
 */
import { ArgumentEncodeError, PayloadTooLarge } from "@troupe/core/TroupeError"

/** The largest message, in bytes, a node takes from another (`NodeClusterSocket`'s `serializationMaxBufferSize`). */
export const maxFrameBytes = 64 * 1024 * 1024

/** The largest payload a caller sends, in UTF-8 bytes of its encoded JSON. */
export const maxPayloadBytes = 16 * 1024 * 1024

/** Why a payload cannot be sent: over `maxPayloadBytes`, or not something JSON can carry. */
export type Refusal =
  | { readonly _tag: "TooLarge"; readonly size: number }
  | { readonly _tag: "Unserializable"; readonly message: string }

/**
 * Checks an encoded payload: over `maxPayloadBytes` (in UTF-8 bytes of its
 * JSON), or one JSON cannot carry (a `BigInt` under `Schema.Any`), it is
 * refused; `undefined` for one that may be sent.
 */
export const refusePayload = (encoded: unknown): Refusal | undefined => {
  // Numbers, booleans, null and short strings cannot be over the limit.
  if (typeof encoded !== "object" && typeof encoded !== "string") return undefined
  if (typeof encoded === "string" && encoded.length * 3 <= maxPayloadBytes) return undefined
  let text: string | undefined
  try {
    text = JSON.stringify(encoded)
  } catch (error) {
    return { _tag: "Unserializable", message: `the payload cannot be serialized: ${String(error)}` }
  }
  if (text === undefined || text.length * 3 <= maxPayloadBytes) return undefined
  const size = Buffer.byteLength(text, "utf8")
  return size > maxPayloadBytes ? { _tag: "TooLarge", size } : undefined
}

/** A refusal as a cluster pool call's error: `PayloadTooLarge`, or `ArgumentEncodeError`. */
export const poolRefusal = (task: string, refusal: Refusal): PayloadTooLarge | ArgumentEncodeError =>
  refusal._tag === "TooLarge"
    ? new PayloadTooLarge({ task, direction: "payload", size: refusal.size, limit: maxPayloadBytes })
    : new ArgumentEncodeError({ task, message: refusal.message })

/** A refusal as an ask's error (`AskError` has no `PayloadTooLarge`): `ArgumentEncodeError`, saying why. */
export const askRefusal = (task: string, refusal: Refusal): ArgumentEncodeError =>
  new ArgumentEncodeError({
    task,
    message:
      refusal._tag === "TooLarge"
        ? `the payload is ${refusal.size} bytes of JSON, over the cluster's limit of ${maxPayloadBytes}`
        : refusal.message
  })
