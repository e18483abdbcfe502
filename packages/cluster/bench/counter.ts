/**
 * The bench's actor, twice: `Counter` as a Troupe actor (served by
 * `ClusterRunner`, its instances in host processes of the runner) and
 * `RawCounter`, the same `Rpc`s as a plain `effect/cluster` entity whose
 * handlers run in the runner's own process. Both keep the count in a `Ref`:
 * the same work, so the ratio measures what Troupe's process isolation costs.
 */
import { Actor } from "@troupe/core"
import { Effect, Ref, Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"

const Increment = Rpc.make("Increment", { payload: { by: Schema.Int }, success: Schema.Int }).annotate(
  ClusterSchema.Persisted,
  true
)
const Get = Rpc.make("Get", { success: Schema.Int })

export const Counter = Actor.make("Counter", [Increment, Get])

export const CounterBehaviour = Actor.behaviour(
  Counter,
  Effect.gen(function* () {
    const count = yield* Ref.make(0)
    return {
      Increment: ({ payload }) => Ref.updateAndGet(count, (n) => n + payload.by),
      Get: () => Ref.get(count)
    }
  })
)

export const RawCounter = Entity.make("RawCounter", [Increment, Get])

export const RawCounterLive = RawCounter.toLayer(
  Effect.gen(function* () {
    const count = yield* Ref.make(0)
    return RawCounter.of({
      Increment: ({ payload }) => Ref.updateAndGet(count, (n) => n + payload.by),
      Get: () => Ref.get(count)
    })
  }),
  { concurrency: 1 }
)
