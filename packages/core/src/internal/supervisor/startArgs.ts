/**
 * A dynamic child's start arguments on the wire: encoded with the
 * template's Schema in the parent (a value that does not fit is refused
 * there, at `startChild`), carried by the `Activate` frame, and decoded with
 * the behaviour's Schema in the child (`Actor.startArgs`). JSON codecs, as
 * `persistedRef` uses, so the value crosses any transport.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { InvalidSupervisorSpec } from "../../TroupeError.ts"
import * as Codec from "../wire/codec.ts"

/** A Schema for start arguments: its encoding needs no services (it runs in the supervisor's loop). */
export type ArgsSchema<A> = Schema.Codec<A, any, any, never>

/**
 * The encoded arguments; a value that does not encode, or whose encoding a
 * process would receive changed (a `NaN`, a `Map` under `Schema.Any`: the
 * serialization contract), is an `InvalidSupervisorSpec` naming `field`.
 */
export const encode = (
  schema: ArgsSchema<unknown>,
  args: unknown,
  field: string
): Effect.Effect<unknown, InvalidSupervisorSpec> => {
  const encoded = Codec.contractEncoder(schema, "args")(args)
  return Result.isSuccess(encoded)
    ? Effect.succeed(encoded.success)
    : Effect.fail(new InvalidSupervisorSpec({ field, reason: encoded.failure }))
}

/** Decodes what the child was given (`undefined` when it was given nothing). */
export const decode = <S extends Schema.Top>(
  schema: S,
  encoded: unknown
): Effect.Effect<S["Type"], Schema.SchemaError, S["DecodingServices"]> =>
  Schema.decodeUnknownEffect(
    Schema.toCodecJson(schema) as unknown as Schema.Codec<S["Type"], unknown, S["DecodingServices"], never>
  )(encoded)
