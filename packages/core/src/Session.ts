/**
 * Sessions of a service the parent hosts through `Channel`: which processes
 * use it, so that what a process holds there (a lock, permits, items taken
 * but not acknowledged, its end of a pipe) is given back when that process
 * is gone. Troupe's IPC primitives are built on it; a service of your own
 * can use it the same way.
 *
 * A process opens one session per service the first time it uses it (`of`):
 * an `Open` call that the host keeps running for as long as the session
 * lives. The channel interrupts a child's running calls when the child exits
 * (and a grandchild's, through the process between), so the end of that
 * call is the host's news that the process is gone: no timer, no heartbeat.
 * The host's own process needs no session; its calls use `local`, which
 * never goes.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Channel from "./Channel.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"

/**
 * The session of the process that hosts the service: it never goes.
 *
 * @since 0.1.0
 * @category constants
 */
export const local = "local"

/**
 * The `Open` method a service with sessions declares (its handler is
 * `Table.hold`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Channel, Session } from "@troupe/core"
 *
 * export const Leases = Channel.make("Leases", {
 *   Open: Session.openMethod,
 *   Take: { payload: Schema.Struct({ session: Schema.String, name: Schema.String }) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const openMethod = { payload: Schema.String } as const

/**
 * A service with an `Open` method taking a session id.
 *
 * @since 0.1.0
 * @category models
 */
export type WithOpen = Channel.Service<
  string,
  { readonly Open: Channel.Method<Schema.String, Schema.Void, Schema.Never> }
>

interface Entry {
  gone: boolean
  readonly releases: Set<() => void>
}

/**
 * The sessions of one hosted service, on its host.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table {
  /** The `Open` handler: the session lives until this call is interrupted (its process is gone). */
  readonly hold: (session: string) => Effect.Effect<void>
  /**
   * Runs `release` once, when `session`'s process is gone (at once if it
   * already is). The returned function cancels it (the thing was given back
   * in the normal way).
   */
  readonly onGone: (session: string, release: () => void) => () => void
  /** Whether `session`'s process is known to be gone. */
  readonly isGone: (session: string) => boolean
}

/**
 * A table of sessions, for the host of one service.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Channel, Session } from "@troupe/core"
 *
 * const Leases = Channel.make("Leases", {
 *   Open: Session.openMethod,
 *   Take: { payload: Schema.Struct({ session: Schema.String, name: Schema.String }) }
 * })
 *
 * // In the parent: a lease is given back when the process that took it dies.
 * const serveLeases = Effect.gen(function*() {
 *   const sessions = Session.makeTable()
 *   const taken = new Set<string>()
 *   return yield* Channel.serve(Leases, {
 *     Open: sessions.hold,
 *     Take: ({ name, session }) =>
 *       Effect.sync(() => {
 *         taken.add(name)
 *         sessions.onGone(session, () => taken.delete(name))
 *       })
 *   })
 * })
 *
 * // In a child: `Session.of` opens this process's session on first use.
 * const take = (leases: Channel.Handle<typeof Leases>, name: string) =>
 *   Channel.call(leases, "Take", { session: Session.of(leases), name })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTable = (): Table => {
  const entries = new Map<string, Entry>()
  const entryOf = (id: string): Entry => {
    let entry = entries.get(id)
    if (entry === undefined) {
      entry = { gone: false, releases: new Set() }
      entries.set(id, entry)
    }
    return entry
  }
  const end = (entry: Entry) => {
    if (entry.gone) return
    entry.gone = true
    const releases = [...entry.releases]
    entry.releases.clear()
    for (const release of releases) release()
  }
  return {
    hold: (id) =>
      Effect.suspend(() => {
        const entry = entryOf(id)
        if (id === local || entry.gone) return Effect.void
        return Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => end(entry))))
      }),
    onGone: (id, release) => {
      if (id === local) return () => {}
      const entry = entryOf(id)
      if (entry.gone) {
        release()
        return () => {}
      }
      let done = false
      const once = () => {
        if (done) return
        done = true
        release()
      }
      entry.releases.add(once)
      return () => {
        done = true
        entry.releases.delete(once)
      }
    },
    isGone: (id) => id !== local && entries.get(id)?.gone === true
  }
}

const clientsKey = Symbol.for("@troupe/core/Session/clients")
const holder = globalThis as { [clientsKey]?: Map<string, string> }
// On `globalThis`, like the endpoints: every copy of this module in a process shares one session per service.
holder[clientsKey] ??= new Map()
const clients: Map<string, string> = holder[clientsKey]

/**
 * This process's session with the service behind `handle`, opened on first
 * use; `local` in the process that hosts it. The `Open` call is sent before
 * this returns, so a call sent after it reaches the host after the session
 * exists.
 *
 * @since 0.1.0
 * @category sessions
 */
export const of = (handle: Channel.Handle<WithOpen>): string => {
  if (Endpoints.find(handle.endpoint) !== undefined) return local
  const open = clients.get(handle.endpoint)
  if (open !== undefined) return open
  const id = Endpoints.freshId()
  clients.set(handle.endpoint, id)
  // Detached: the session outlives the task or behaviour that opened it, and ends with the process or the host's scope.
  const fiber = Effect.runFork(Channel.call(handle, "Open", id))
  fiber.addObserver(() => {
    if (clients.get(handle.endpoint) === id) clients.delete(handle.endpoint)
  })
  return id
}
