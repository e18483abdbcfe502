/**
 * The wire frames between a parent and a child, as Schemas.
 *
 * Frames are plain JSON-safe objects. The parent sends `Run`; the child sends
 * `Ready` once it listens, then one `Reply` per `Run`. Each side decodes what
 * it receives with these Schemas, so a malformed frame is a typed error at the
 * boundary, never a crash.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { SpawnErrorReason } from "../TroupeError.ts"

/** Parent to child: run `task` from `module` with an encoded payload. */
export const Run = Schema.Struct({
  _tag: Schema.tag("Run"),
  id: Schema.Number,
  module: Schema.String,
  task: Schema.String,
  payload: Schema.Unknown
})
export type Run = typeof Run.Type

export const ParentFrame = Run
export type ParentFrame = Run

/** The outcome of one `Run`, encoded in the child. */
export const Reply = Schema.Union([
  Schema.Struct({ _tag: Schema.tag("Success"), value: Schema.Unknown }),
  Schema.Struct({ _tag: Schema.tag("Failure"), error: Schema.Unknown, stack: Schema.optional(Schema.String) }),
  Schema.Struct({
    _tag: Schema.tag("Defect"),
    name: Schema.String,
    message: Schema.String,
    stack: Schema.optional(Schema.String)
  }),
  Schema.Struct({ _tag: Schema.tag("SpawnFailed"), reason: SpawnErrorReason, message: Schema.String }),
  Schema.Struct({ _tag: Schema.tag("EncodeFailed"), message: Schema.String })
])
export type Reply = typeof Reply.Type

/** Child to parent. */
export const ChildFrame = Schema.Union([
  Schema.Struct({ _tag: Schema.tag("Ready"), pid: Schema.Number }),
  Schema.Struct({ _tag: Schema.tag("Reply"), id: Schema.Number, reply: Reply })
])
export type ChildFrame = typeof ChildFrame.Type

export const decodeChildFrame = Schema.decodeUnknownExit(ChildFrame)
export const decodeParentFrame = Schema.decodeUnknownExit(ParentFrame)
