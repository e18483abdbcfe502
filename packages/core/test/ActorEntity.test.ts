/**
 * One definition, two engines: an actor and its behaviour run unchanged as an
 * `effect/cluster` entity (in-memory `TestRunner`, no processes involved).
 */
import { it } from "@effect/vitest"
import { Actor } from "@troupe/core"
import * as ActorEntity from "@troupe/core/ActorEntity"
import { Effect, Layer, Ref, Schema } from "effect"
import { TestRunner } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { expect } from "vitest"

class Negative extends Schema.TaggedError<Negative>()("Negative", { by: Schema.Int }) {}

const Tally = Actor.make("Tally", [
  Rpc.make("Add", { payload: { by: Schema.Int }, success: Schema.Int, error: Negative }),
  Rpc.make("Whoami", { success: Schema.String })
])

const TallyBehaviour = Actor.behaviour(
  Tally,
  Effect.gen(function* () {
    const total = yield* Actor.persistedRef(Schema.Int, 0)
    const self = yield* Actor.ActorContext
    return {
      Add: ({ payload }) =>
        payload.by < 0 ? Effect.fail(new Negative({ by: payload.by })) : Ref.updateAndGet(total, (n) => n + payload.by),
      Whoami: () => Effect.succeed(`${self.name}/${self.key}`)
    }
  })
)

const TallyLive = ActorEntity.toLayer(TallyBehaviour).pipe(Layer.provideMerge(TestRunner.layer))

it.live("an actor's definition and behaviour serve as a cluster entity", () =>
  Effect.gen(function* () {
    const entity = ActorEntity.toEntity(Tally)
    expect(entity.type).toBe("Tally")
    expect(ActorEntity.toEntity(Tally)).toBe(entity)
    const makeClient = yield* entity.client
    const a = makeClient("a")
    expect(yield* a.Add({ by: 2 })).toBe(2)
    expect(yield* a.Add({ by: 3 })).toBe(5)
    expect(yield* makeClient("b").Add({ by: 1 })).toBe(1)
    expect(yield* a.Whoami()).toBe("Tally/a")
    const failed = yield* Effect.flip(a.Add({ by: -1 }))
    expect(failed).toBeInstanceOf(Negative)
  }).pipe(Effect.provide(TallyLive))
)
