/**
 * The services this process hosts for calls through the channel: each one is
 * an endpoint, found by an id that is unique across processes. A handle
 * (`Channel.Handle`, an `ActorRef`, a `PoolHandle`) carries that id across
 * the boundary; a call to it, from this process or any child below it,
 * reaches `handle` here.
 *
 * The registry lives on `globalThis` so that every copy of this module in a
 * process (a worker bundle and the unbundled runner) sees the same services.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type { ChannelError } from "../../TroupeError.ts"
import type { Reply } from "./frame.ts"

/** A hosted service: `handle` runs a call on an encoded payload and encodes its outcome. */
export interface Endpoint {
  /** The service's name, for errors. */
  readonly name: string
  /**
   * Runs a call. An endpoint that says it `keepsLate` passes the outcome of a
   * call whose caller was interrupted to `onLateReply` (the reply the work
   * produced, or `Interrupted`); the caller wraps the others so that they do.
   * It may fail with a `ChannelError` (`ServiceClosed`: its scope closed
   * while the call ran).
   */
  readonly handle: (
    method: string,
    payload: unknown,
    onLateReply?: (reply: Reply) => void
  ) => Effect.Effect<Reply, ChannelError>
  /** Whether `handle` takes care of `onLateReply` itself. */
  readonly keepsLate?: boolean
  /** What the handle stands for in this process (an actor's own ref), returned when a handle to it is decoded here. */
  readonly local?: unknown
}

interface Registry {
  readonly endpoints: Map<string, Endpoint>
  readonly prefix: string
  next: number
}

const registryKey = Symbol.for("@troupe/core/Channel/endpoints")
const holder = globalThis as { [registryKey]?: Registry }
if (holder[registryKey] === undefined) {
  holder[registryKey] = {
    endpoints: new Map(),
    // Unique across the processes and threads of a tree: a handle names its endpoint wherever it travels.
    prefix: `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`,
    next: 0
  }
}
const registry: Registry = holder[registryKey]

/** An id no other call of this in any process of the tree returns. */
export const freshId = (): string => `${registry.prefix}.${registry.next++}`

/** Hosts `endpoint` under a fresh id. */
export const register = (endpoint: Endpoint): string => {
  const id = freshId()
  registry.endpoints.set(id, endpoint)
  return id
}

export const unregister = (id: string): void => {
  registry.endpoints.delete(id)
}

/** The endpoint hosted here under `id`, if this process hosts it. */
export const find = (id: string): Endpoint | undefined => registry.endpoints.get(id)

/** How many endpoints this process hosts (for tests: refs sent in messages must not grow it per send). */
export const size = (): number => registry.endpoints.size
