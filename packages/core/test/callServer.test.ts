/**
 * The parent's side of a child's calls to a hosted service (`callServer.ts`
 * over `Channel.serve`), with a fake connection: which calls are answered
 * at once, in which order, and what closing the service does to a call that
 * waits.
 */
import { describe, expect, it } from "@effect/vitest"
import { IpcQueue } from "@troupe/core"
import { Effect, Exit, Schema, Scope } from "effect"
import * as CallServer from "../src/internal/parent/callServer.ts"
import type { Connection } from "../src/Transport.ts"

/** A call server whose answers land in `sent`, in order. */
const serverWithLog = () => {
  const sent: Array<{ readonly _tag: string; readonly id: number }> = []
  const connection = {
    exitStatus: () => undefined,
    sendUnsafe: (frame: unknown) => {
      sent.push(frame as { readonly _tag: string; readonly id: number })
    },
    exited: Effect.never
  } as unknown as Connection
  return { server: CallServer.make(connection), sent }
}

const take = (id: number, endpoint: string) =>
  ({
    _tag: "Call",
    id,
    endpoint,
    method: "Take",
    payload: { session: "child", take: `take-${id}`, max: 1, wait: true },
    late: true
  }) as const

describe("callServer over an IpcQueue", () => {
  it.effect("an offer that feeds a waiting take is answered first, the take right after", () =>
    Effect.gen(function* () {
      const queue = yield* IpcQueue.make({ item: Schema.Int, capacity: 10 })
      const { sent, server } = serverWithLog()
      server.onFrame(take(1, queue.handle.endpoint))
      expect(sent).toEqual([])
      server.onFrame({ _tag: "Call", id: 2, endpoint: queue.handle.endpoint, method: "Offer", payload: [7] })
      // The offer is done at once: answered before this returns, before the take it woke.
      expect(sent.map((frame) => frame.id)).toEqual([2])
      yield* Effect.promise(() => Promise.resolve())
      expect(sent).toEqual([
        { _tag: "CallReply", id: 2, reply: { _tag: "Success", value: null } },
        { _tag: "CallReply", id: 1, reply: { _tag: "Success", value: [7] } }
      ])
    }).pipe(Effect.scoped)
  )

  it.effect("a take that waits when its queue's scope closes is refused with ServiceClosed", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const queue = yield* IpcQueue.make({ item: Schema.Int, capacity: 10 }).pipe(Scope.provide(scope))
      const { sent, server } = serverWithLog()
      server.onFrame(take(1, queue.handle.endpoint))
      yield* Scope.close(scope, Exit.void)
      expect(sent).toMatchObject([{ _tag: "CallRefused", id: 1, reason: "ServiceClosed" }])
    })
  )
})
