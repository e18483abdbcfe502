/**
 * Tasks in a window, for a contender called through Effect: `inFlight`
 * lanes, each one fiber that calls the next task until none is left. This
 * is the shape of the harness that drives the Promise-based pools
 * (`measure.ts`: one async lane per task in flight), rather than one fiber
 * per task as `Effect.forEach` with `concurrency` forks.
 */
import * as Effect from "effect/Effect"

export const lanes = <E>(
  ns: ReadonlyArray<number>,
  inFlight: number,
  call: (n: number) => Effect.Effect<number, E>
): Effect.Effect<ReadonlyArray<number>, E> =>
  Effect.suspend(() => {
    const out = new Array<number>(ns.length)
    let next = 0
    const lane = Effect.whileLoop({
      while: () => next < ns.length,
      body: () => {
        const i = next++
        return Effect.map(call(ns[i]!), (value) => {
          out[i] = value
        })
      },
      step: () => {}
    })
    return Effect.as(
      Effect.forEach(Array.from({ length: Math.min(inFlight, ns.length) }), () => lane, {
        concurrency: "unbounded",
        discard: true
      }),
      out
    )
  })
