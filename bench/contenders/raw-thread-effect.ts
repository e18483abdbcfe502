/** Contender `raw-thread-effect`: `raw-thread` with one `Effect.runPromiseWith` per task (see `rawThroughEffect.ts`). */
import { make as makeRawThread } from "./raw-thread.ts"
import { makeRawThroughEffect } from "./rawThroughEffect.ts"

export const make = () => makeRawThroughEffect(makeRawThread())
