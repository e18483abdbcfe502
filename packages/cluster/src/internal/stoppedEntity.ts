/**
 * How a caller learns that the runner stopped the entity under its message.
 *
 * When a runner stops an entity with a plain (not persisted) message in
 * flight (the runner stopping, or handing the entity's shard over), the
 * engine answers the message with an interrupt exit. The calling fiber was
 * not interrupted, so that exit must not reach it as its own interruption:
 * it becomes the caller's typed error instead (an actor's `ActorDied`, a
 * cluster pool's `WorkerCrashed`). The caller's own node shutting down
 * interrupts its messages the same way: that is not the runner's doing, and
 * becomes the error `shutDown` makes (an `ActorDied` that says so, a pool's
 * `ShutdownError`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Sharding from "effect/cluster/Sharding"
import * as Effect from "effect/Effect"

/** `self`, with a reply that is an interruption only replaced by the failure `stopped` (or `shutDown`) makes. */
export const failWhenStopped =
  <E2, E3>(sharding: Sharding.Sharding["Service"], stopped: () => E2, shutDown: () => E3) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2 | E3, R> =>
    Effect.catchCause(
      self,
      (cause): Effect.Effect<never, E | E2 | E3> =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.flatMap(sharding.isShutdown, (down) => Effect.fail(down ? shutDown() : stopped()))
          : Effect.failCause(cause)
    )
