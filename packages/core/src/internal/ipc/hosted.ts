/**
 * What the primitives the parent hosts (IpcQueue, IpcLock, SharedRef, ...)
 * share: each is a `Channel` service served in a `Scope`, wrapped in a
 * handle of its own kind, and travels to children as its service's handle.
 * `handleSchema` builds the Schema of such a handle; `service` memoizes a
 * service built from the user's Schemas, so that the parent and every child
 * build one service per Schema and its codecs are reused.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Channel from "../../Channel.ts"
import { durationMillis, nonNegativeDuration } from "../options.ts"

/**
 * The Schema of a primitive's handle `P`: encoded as its service's handle
 * (`Channel.HandleEncoded`), decoded with `wrap`, recognised with `is`.
 */
export const handleSchema = <S extends Channel.Any, P>(options: {
  readonly service: S
  readonly is: (u: unknown) => u is P
  readonly wrap: (handle: Channel.Handle<S>) => P
  readonly unwrap: (primitive: P) => Channel.Handle<S>
}): Schema.Codec<P, Channel.HandleEncoded> =>
  Channel.handleSchema(options.service).pipe(
    Schema.decodeTo(
      Schema.declare(options.is),
      SchemaTransformation.transform({ decode: options.wrap, encode: options.unwrap })
    )
  ) as any

/**
 * A memo of services keyed by the Schemas they are built from: the same
 * Schemas give the same service object (and so the same codecs) in every
 * call, in the parent and in each child. A service built from two Schemas
 * nests two memos (`serviceMemo((a) => serviceMemo((b) => build(a, b)))`).
 */
export const serviceMemo = <Key extends object, S>(build: (key: Key) => S): ((key: Key) => S) => {
  const built = new WeakMap<Key, S>()
  return (key) => {
    let service = built.get(key)
    if (service === undefined) {
      service = build(key)
      built.set(key, service)
    }
    return service
  }
}

/**
 * Runs `call` with a wait's `timeout` as it travels to the host, which runs
 * it: its milliseconds, or `null` for none (absent or infinite). A timeout
 * that is not a duration of zero or more is an `InvalidOption` defect, as
 * the primitives' other bad arguments are, and nothing is sent.
 */
export const withTimeout = <A, E>(
  timeout: unknown,
  call: (millis: number | null) => Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const invalid = nonNegativeDuration("timeout", timeout)
    if (invalid !== undefined) return Effect.die(invalid)
    const millis = timeout === undefined ? Number.POSITIVE_INFINITY : durationMillis(timeout)
    return call(millis === Number.POSITIVE_INFINITY ? null : millis)
  })
