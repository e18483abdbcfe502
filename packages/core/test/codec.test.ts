/**
 * The boundary codec as pure logic: what the child encodes for each outcome
 * of a handler, and what the parent decodes from it. The real round trip over
 * IPC is tested in @troupe/node.
 */
import { describe, expect, it } from "@effect/vitest"
import { Task } from "@troupe/core"
import { Effect, Exit, Schema } from "effect"
import * as Codec from "../src/internal/wire/codec.ts"
import { Reply } from "../src/internal/wire/frame.ts"

class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Number }) {}

const Withdraw = Task.make("codec.test/Withdraw", {
  payload: { amount: Schema.Number.check(Schema.isGreaterThan(0)) },
  success: Schema.Number,
  error: Overdrawn,
  handler: ({ amount }) =>
    amount > 100
      ? Effect.fail(new Overdrawn({ balance: 100 }))
      : amount === 13
        ? Effect.die(new TypeError("unlucky"))
        : amount === 7
          ? Effect.succeed("seven" as unknown as number)
          : Effect.succeed(100 - amount)
})

const roundTrip = (amount: number) =>
  Codec.encodePayload(Withdraw, { amount }).pipe(
    Effect.flatMap((payload) => Codec.runInChild(Withdraw, payload)),
    Effect.flatMap((reply) => Codec.decodeReply<number, Overdrawn>(Withdraw, { module: Withdraw.module }, reply))
  )

describe("codec", () => {
  it.effect("a success round-trips", () =>
    Effect.gen(function* () {
      expect(yield* roundTrip(30)).toBe(70)
    })
  )

  it.effect("a typed failure decodes to an instance of its class", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(roundTrip(150))
      expect(error).toBeInstanceOf(Overdrawn)
      expect(error).toMatchObject({ _tag: "Overdrawn", balance: 100 })
    })
  )

  it.effect("a defect becomes a RemoteDefect", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(roundTrip(13))
      expect(error).toMatchObject({ _tag: "RemoteDefect", name: "TypeError", message: "unlucky" })
    })
  )

  it("a defect's own fields and its cause are read without trusting them, and always fit the wire's Reply", () => {
    const throwing = () => {
      throw new Error("you may not read me")
    }
    const decodeReply = Schema.decodeUnknownSync(Reply)
    const described = (defect: unknown) => {
      const description = Codec.describeDefect(defect)
      expect(decodeReply({ _tag: "Defect", ...description })).toEqual({ _tag: "Defect", ...description })
      return description
    }
    // The cause is read one level deep: the cause's own cause is not.
    const deep = new Error("outer", {
      cause: Object.assign(new Error("middle", { cause: new Error("inner") }), { code: "E_MID" })
    })
    expect(described(deep)).toMatchObject({ message: "outer", cause: { message: "middle", fields: { code: "E_MID" } } })
    expect((described(deep).cause as object as { cause?: unknown }).cause).toBeUndefined()
    // A cause that throws to be read, a revoked proxy for a cause, a cause that is not an Error: no cause.
    expect(described(Object.defineProperty(new Error("getter"), "cause", { get: throwing })).cause).toBeUndefined()
    const { proxy, revoke } = Proxy.revocable(new Error("revoked"), {})
    revoke()
    expect(described(new Error("revoked cause", { cause: proxy })).cause).toBeUndefined()
    expect(described(new Error("string cause", { cause: "a string" })).cause).toBeUndefined()
    // A proxy whose keys are listed but whose reads throw for some; keys that are not fields.
    const listed = new Proxy(Object.assign(new Error("proxied"), { code: "E_P", secret: 1 }), {
      get: (target, key, receiver) => (key === "secret" ? throwing() : Reflect.get(target, key, receiver))
    })
    expect(described(listed).fields).toEqual({ code: "E_P" })
    const odd = Object.defineProperty(Object.assign(new Error("odd"), { ["k".repeat(200)]: 1, ok: 2 }), "__proto__", {
      value: "polluted",
      enumerable: true
    })
    expect(described(odd).fields).toEqual({ ok: 2 })
    // A function thrown with fields, and an Error whose fields are all unreadable: no `fields` key at all.
    expect(described(Object.assign(() => 1, { code: "E_FN" })).fields).toEqual({ code: "E_FN" })
    expect("fields" in described(Object.assign(new Error("none"), { f: () => 1, big: 2n }))).toBe(false)
  })

  it.effect("a success that does not match its Schema becomes a ResultEncodeError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(roundTrip(7))
      expect(error._tag).toBe("ResultEncodeError")
    })
  )

  it("an encoded payload holds none of the caller's objects, through the shortcut or the parser", () => {
    const objectsOf = (value: unknown, into = new Set<object>()): Set<object> => {
      if (typeof value === "object" && value !== null && !into.has(value)) {
        into.add(value)
        for (const item of Object.values(value)) objectsOf(item, into)
      }
      return into
    }
    const cases: ReadonlyArray<readonly [string, Schema.Top, unknown]> = [
      ["Unknown (the shortcut)", Schema.Unknown, { tags: ["a"], nested: { n: 1 } }],
      ["a struct (the shortcut)", Schema.Struct({ tags: Schema.Array(Schema.String) }), { tags: ["a"] }],
      ["Any (the parser)", Schema.Any, { tags: ["a"], nested: { n: 1 } }],
      [
        "Unknown beside a Date (the parser)",
        Schema.Struct({ at: Schema.Date, meta: Schema.Unknown }),
        { at: new Date(0), meta: { tags: ["a"] } }
      ],
      ["a record of Unknown (the parser)", Schema.Record(Schema.String, Schema.Unknown), { a: { tags: ["a"] } }]
    ]
    for (const [name, schema, payload] of cases) {
      const task = Task.make(`codec.test/Snapshot ${name}`, {
        payload: schema,
        success: Schema.Void,
        handler: () => Effect.void
      })
      const encoded = Codec.encodePayloadExit(task, payload)
      expect(Exit.isSuccess(encoded), name).toBe(true)
      const value = (encoded as Exit.Success<unknown>).value
      const callers = objectsOf(payload)
      for (const object of objectsOf(value)) expect(callers.has(object), name).toBe(false)
    }
  })

  it.effect("an invalid payload is rejected before encoding", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Codec.encodePayload(Withdraw, { amount: -5 }))
      expect(error._tag).toBe("RequestValidationError")
      expect(error.message).toContain("amount")
    })
  )

  it.effect("a reply the parent cannot decode is a ReplyValidationError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Codec.decodeReply<number, Overdrawn>(
          Withdraw,
          { module: Withdraw.module },
          { _tag: "Success", value: "not a number" }
        )
      )
      expect(error._tag).toBe("ReplyValidationError")
    })
  )

  describe("a handler that answers at once (replyNow)", () => {
    const Square = Task.make("codec.test/Square", {
      payload: Schema.Number,
      success: Schema.Number,
      handler: (n) => Effect.succeed(n === 4 ? Number.NaN : n * n)
    })

    it("replies at once, without a fiber, with the value itself", () => {
      // An `Effect` here would mean that the handler's `Exit` was not recognized as complete.
      expect(Codec.replyNow(Square, 3, Square.handler)).toEqual({ _tag: "Success", value: 9 })
      expect(Codec.replyNow(Square, 3, () => Effect.fail("no"))).toMatchObject({ _tag: "EncodeFailed" })
    })

    it("still refuses a payload the Schema refuses", () => {
      expect(Codec.replyNow(Square, "3", Square.handler)).toMatchObject({
        _tag: "Defect",
        name: "RequestValidationError"
      })
    })

    it("encodes a value the Schema does not leave as it is", () => {
      const reply = Codec.replyNow(Square, 4, Square.handler)
      expect(reply).toEqual({
        _tag: "Success",
        value: Schema.encodeSync(Schema.toCodecJson(Schema.Number))(Number.NaN)
      })
      expect(reply).not.toEqual({ _tag: "Success", value: Number.NaN })
    })
  })

  describe("encodeForWire, the caller's payload", () => {
    const Square = Task.make("codec.test/SquareOnTheWire", {
      payload: Schema.Number,
      success: Schema.Number,
      handler: (n) => Effect.succeed(n * n)
    })

    it("gives a payload that is its own encoding back as it is, and refuses the Schema's rejects", () => {
      expect(Codec.encodeForWire(Square, 3, false, undefined)).toBe(3)
      // Not a finite number: the Schema's JSON codec decides (it writes NaN as a string).
      expect(Codec.encodeForWire(Square, Number.NaN, false, undefined)).toBe("NaN")
      const refused = Codec.encodeForWire(Square, "3" as unknown as number, false, undefined)
      expect(refused).toBeInstanceOf(Codec.Refused)
      expect(Exit.isFailure((refused as Codec.Refused).exit)).toBe(true)
      expect(String((refused as Codec.Refused).exit)).toContain("RequestValidationError")
    })

    it("encodes other payloads by their Schema, within the size limit", () => {
      expect(Codec.encodeForWire(Withdraw, { amount: 5 }, false, undefined)).toEqual({ amount: 5 })
      expect(Codec.encodeForWire(Withdraw, { amount: -5 }, false, undefined)).toBeInstanceOf(Codec.Refused)
      const tooLarge = Codec.encodeForWire(Square, 123456, false, 3)
      expect(tooLarge).toBeInstanceOf(Codec.Refused)
      expect(String((tooLarge as Codec.Refused).exit)).toContain("PayloadTooLarge")
    })

    it("decodes a success that is its own encoding as it is, and refuses one of the wrong type", () => {
      expect(Codec.decodeReply(Square, { module: Square.module }, { _tag: "Success", value: 9 })).toEqual(
        Exit.succeed(9)
      )
      const wrong = Codec.decodeReply(Square, { module: Square.module }, { _tag: "Success", value: "9" })
      expect(String(wrong)).toContain("ReplyValidationError")
    })
  })
})
