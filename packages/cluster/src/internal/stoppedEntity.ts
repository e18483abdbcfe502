/**
 * How a caller learns that the runner stopped the entity under its message.
 *
 * When a runner stops an entity with a plain (not persisted) message in
 * flight (the runner stopping, or handing the entity's shard over), the
 * engine answers the message with an interrupt exit. The calling fiber was
 * not interrupted, so that exit must not reach it as its own interruption:
 * it becomes the caller's typed error instead (an actor's `ActorDied`, a
 * cluster pool's `WorkerCrashed`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"

/** `self`, with a reply that is an interruption only replaced by the failure `stopped` makes. */
export const failWhenStopped =
  <E2>(stopped: () => E2) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2, R> =>
    Effect.catchCause(
      self,
      (cause): Effect.Effect<never, E | E2> =>
        Cause.hasInterruptsOnly(cause) ? Effect.fail(stopped()) : Effect.failCause(cause)
    )
