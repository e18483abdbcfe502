/**
 * The parent's side of one child's calls: each `Call` frame that does not
 * complete at once runs in its own fiber (through `parentLink.callNow`, so a call to an endpoint this process
 * does not host goes on up to its own parent), and its outcome goes back as
 * a `CallReply`, or a `CallRefused` when no service took it. `CallInterrupt`
 * interrupts the call's fiber, and so do the child's exit and `close`: work
 * for a caller that is gone stops. A `late` call is answered even then, with
 * what its work produced (`Interrupted` if nothing). A `Call` under the id
 * of a call still running is refused as a broken protocol (its child is
 * killed): it would leave the first call's work running for good.
 *
 * A child's client (`childClient.ts`, behind a pool's worker, an actor host
 * and a `Process`) makes one on the first call its child sends: a child that
 * never calls costs nothing.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type { Connection } from "../../Transport.ts"
import { ChannelError } from "../../TroupeError.ts"
import * as Codec from "../wire/codec.ts"
import type { Call, CallInterrupt, CallRefused, CallReply, Reply } from "../wire/frame.ts"
import * as ParentLink from "../wire/parentLink.ts"
import { ServingChild } from "../wire/servingChild.ts"

export interface CallServer {
  /** Serves a frame; a frame that breaks the protocol is not served: the reason is returned, and the child is to be killed. */
  readonly onFrame: (frame: Call | CallInterrupt) => string | undefined
  /**
   * Interrupts the calls still running, at once: the child exited. Its owner
   * calls it as it learns of the exit, before it acts on it (fails the
   * child's task, say), so that no one who knows the child is gone can see
   * its calls still served (an offer put, a take given an item). Called
   * again, it does nothing.
   */
  readonly childExited: () => void
}

export const make = (connection: Connection): CallServer => {
  const running = new Map<number, Fiber.Fiber<Reply, ChannelError>>()

  const answer = (frame: CallReply | CallRefused) => {
    if (connection.exitStatus() !== undefined) return
    try {
      connection.sendUnsafe(frame)
    } catch (error) {
      // A child still there waits for this call: it gets a small failure in place of the reply the channel refused
      // (too large to serialize, say), as a worker's caller does for a reply the worker cannot send.
      if (connection.exitStatus() !== undefined) return
      try {
        connection.sendUnsafe({
          _tag: "CallReply",
          id: frame.id,
          reply: {
            _tag: "EncodeFailed",
            message: `the reply could not be sent to the child: ${Codec.defectText(error)}`
          }
        })
      } catch {
        // The child is gone: nobody waits for this answer.
      }
    }
  }

  const settle = (id: number, exit: Exit.Exit<Reply, ChannelError>) => {
    if (Exit.isSuccess(exit)) return answer({ _tag: "CallReply", id, reply: exit.value })
    const error = Cause.findErrorOption(exit.cause)
    if (error._tag === "Some" && error.value instanceof ChannelError) {
      return answer({ _tag: "CallRefused", id, reason: error.value.reason, message: error.value.message })
    }
    const defect = Cause.findDefect(exit.cause)
    answer({
      _tag: "CallReply",
      id,
      reply:
        defect._tag === "Success"
          ? { _tag: "Defect", ...Codec.describeDefect(defect.success) }
          : { _tag: "Interrupted" }
    })
  }

  const childExited = () => {
    for (const fiber of running.values()) fiber.interruptUnsafe()
    running.clear()
  }
  void Effect.runPromise(connection.exited).then(childExited)

  return {
    childExited,
    onFrame: (frame) => {
      if (frame._tag === "CallInterrupt") {
        const fiber = running.get(frame.id)
        if (fiber === undefined) return
        running.delete(frame.id)
        fiber.interruptUnsafe()
        return
      }
      // A child numbers its calls: one whose id still runs is no call of a working child, and serving it would
      // leave the first one's fiber running for good (only those in `running` are interrupted when the child exits).
      if (running.has(frame.id)) return `it sent call ${frame.id} while its call ${frame.id} was still running`
      const call = ParentLink.callNow(
        `service ${frame.endpoint}`,
        frame.endpoint,
        frame.method,
        frame.payload,
        // A late call is answered even once interrupted: its caller keeps a tombstone for the outcome.
        frame.late === true ? (reply) => answer({ _tag: "CallReply", id: frame.id, reply }) : undefined
      )
      // A call served at once needs no fiber.
      if (Exit.isExit(call)) {
        settle(frame.id, call as Exit.Exit<Reply, ChannelError>)
        return
      }
      const fiber = Effect.runFork(Effect.provideService(call, ServingChild, true))
      if (fiber.pollUnsafe() !== undefined) {
        settle(frame.id, fiber.pollUnsafe()!)
        return
      }
      running.set(frame.id, fiber)
      fiber.addObserver((exit) => {
        // An interrupted call was dropped from `running`: its caller expects no answer.
        if (running.get(frame.id) !== fiber) return
        running.delete(frame.id)
        settle(frame.id, exit)
      })
    }
  }
}
