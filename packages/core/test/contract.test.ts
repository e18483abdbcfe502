/**
 * The serialization contract as pure logic: which Schemas are walked (decided
 * from the AST), what a walk refuses and how it says where, and how the
 * payload codec turns a refusal into an `ArgumentEncodeError`. The same
 * values on real processes and threads are tested in @troupe/node
 * (Serialization.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { SharedMemory, Task } from "@troupe/core"
import { Effect, Schema } from "effect"
import * as Exit from "effect/Exit"
import * as Codec from "../src/internal/wire/codec.ts"
import * as Contract from "../src/internal/wire/contract.ts"

class Point {
  readonly x: number
  constructor(x: number) {
    this.x = x
  }
}

const refusal = (value: unknown, sharing = false) => Contract.walk(value, "payload", sharing).refused

describe("contract", () => {
  it("walks only Schemas whose encoded side can hold something other than JSON", () => {
    expect(Contract.needsWalk(Schema.Number)).toBe(false)
    expect(
      Contract.needsWalk(
        Schema.Struct({ a: Schema.Date, b: Schema.ReadonlyMap(Schema.String, Schema.BigInt), c: Schema.Unknown })
      )
    ).toBe(false)
    expect(Contract.needsWalk(Schema.Any)).toBe(true)
    expect(Contract.needsWalk(Schema.Struct({ deep: Schema.Array(Schema.Struct({ any: Schema.Any })) }))).toBe(true)
    expect(Contract.needsWalk(Schema.Union([Schema.Number, Schema.Any]))).toBe(true)
    expect(Contract.needsWalk(SharedMemory.Int32)).toBe(true)
    expect(Contract.needsWalk(SharedMemory.Transferred)).toBe(true)
    interface Tree {
      readonly children: ReadonlyArray<Tree>
    }
    const Tree: Schema.Codec<Tree> = Schema.Struct({
      children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
    })
    expect(Contract.needsWalk(Tree)).toBe(false)
  })

  it("accepts plain JSON data, null-prototype objects and undefined fields", () => {
    expect(refusal({ a: [1, "x", true, null, { b: -0.5 }], c: undefined, d: Object.create(null) })).toBeUndefined()
  })

  it("refuses every value a process would receive changed, and says what and where", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [{ m: new Map() }, "payload.m: a Map is not plain JSON data"],
      [{ s: [new Set()] }, "payload.s[0]: a Set is not plain JSON data"],
      [{ when: new Date(0) }, "payload.when: a Date is not plain JSON data"],
      [{ f: () => 1 }, "payload.f: a function cannot be sent"],
      [[1, undefined], "payload[1]: undefined is not JSON data"],
      [Object.assign(new Array(3), { 0: 1, 2: 2 }), "payload[1]: an empty slot in an array"],
      [{ "a b": Number.NaN }, 'payload["a b"]: NaN is not a JSON number'],
      [{ x: Number.POSITIVE_INFINITY }, "payload.x: Infinity is not a JSON number"],
      [{ n: 1n }, "payload.n: a bigint is not JSON data"],
      [{ p: new Point(1) }, "payload.p: a Point is not plain JSON data"],
      [{ t: new Uint8Array(2) }, "payload.t: a Uint8Array is not plain JSON data"],
      [{ b: new ArrayBuffer(2) }, "payload.b: an ArrayBuffer is not plain JSON data"],
      [{ v: new Int32Array(new SharedArrayBuffer(8)) }, "payload.v: an Int32Array over a SharedArrayBuffer"],
      [Symbol("s"), "payload: a symbol cannot be sent"]
    ]
    for (const [value, message] of cases) expect(refusal(value)).toContain(message)
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(refusal(cycle)).toContain("payload.self: a circular reference")
  })

  it("shared memory and transferred buffers pass only when the transport shares memory", () => {
    const view = SharedMemory.allocate(Int32Array, 2)
    const encoded = Schema.encodeSync(Schema.toCodecJson(Schema.Struct({ view: SharedMemory.Int32 })))({ view }) as {
      readonly view: unknown
    }
    expect(encoded.view).toBe(view)
    expect(refusal(encoded, true)).toBeUndefined()
    expect(refusal(encoded, false)).toContain("payload.view: shared memory (an Int32Array over a SharedArrayBuffer)")
    expect(refusal(encoded, false)).toContain("only a worker thread shares memory with its parent")

    const buffer = new ArrayBuffer(4)
    const moved = Schema.encodeSync(Schema.toCodecJson(Schema.Struct({ buffer: SharedMemory.Transferred })))({ buffer })
    expect(Contract.walk(moved, "payload", true).transfers).toEqual([buffer])
    expect(refusal(moved, false)).toContain("payload.buffer: a transferred ArrayBuffer")
  })

  it("the payload codec refuses with ArgumentEncodeError, and the child's reply with EncodeFailed", () => {
    const Echo = Task.make("contract.test/Echo", {
      payload: Schema.Struct({ value: Schema.Any }),
      success: Schema.Any,
      handler: ({ value }) => Effect.succeed(value)
    })
    const refused = Codec.encodePayloadExit(Echo, { value: new Map() })
    expect(Exit.isFailure(refused) && String(refused.cause)).toContain("ArgumentEncodeError")
    expect(Exit.isFailure(refused) && String(refused.cause)).toContain("payload.value: a Map")
    // Schema.Unknown is checked by Effect's own JSON codec, as a RequestValidationError at its position.
    const Unknown = Task.make("contract.test/Unknown", {
      payload: Schema.Struct({ value: Schema.Unknown }),
      handler: () => Effect.void
    })
    const unknown = Codec.encodePayloadExit(Unknown, { value: new Map() })
    expect(Exit.isFailure(unknown) && String(unknown.cause)).toContain("RequestValidationError")
    expect(Exit.isFailure(unknown) && String(unknown.cause)).toContain("Expected JSON value")
    const ok = Codec.encodePayloadExit(Echo, { value: { a: 1 } })
    expect(Exit.isSuccess(ok)).toBe(true)
    const reply = Codec.replyInChild(Echo, { value: [new Date(0)] })
    expect(reply).toMatchObject({ _tag: "EncodeFailed" })
    expect((reply as { message: string }).message).toContain("result[0]: a Date is not plain JSON data")
  })

  it("a value nested more than maxDepth levels is refused on every backend, by each Schema that lets it nest", () => {
    const nested = (levels: number): unknown => JSON.parse(`${"[".repeat(levels)}${"]".repeat(levels)}`)
    interface Tree {
      readonly children: ReadonlyArray<Tree>
    }
    const Tree: Schema.Codec<Tree> = Schema.Struct({
      children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
    })
    // Each node is two levels, an object and its array of children.
    const tree = (levels: number): Tree => {
      let node: Tree = { children: [] }
      for (let level = 2; level < levels; level += 2) node = { children: [node] }
      return node
    }
    expect(Contract.checkOf(Schema.Number)).toBe("none")
    expect(Contract.checkOf(Schema.Struct({ a: Schema.Date, b: Schema.Array(Schema.String) }))).toBe("none")
    expect(Contract.checkOf(Schema.Unknown)).toBe("depth")
    expect(Contract.checkOf(Schema.Struct({ value: Schema.Unknown }))).toBe("depth")
    expect(Contract.checkOf(Tree)).toBe("depth")
    expect(Contract.checkOf(Schema.Any)).toBe("walk")
    const cases = [
      [Schema.Unknown, nested],
      [Schema.Any, nested],
      [Tree, tree]
    ] as const
    for (const [schema, make] of cases) {
      const Echo = Task.make("contract.test/Deep", {
        payload: schema as Schema.Codec<unknown>,
        success: schema as Schema.Codec<unknown>,
        handler: Effect.succeed
      })
      // `maxDepth` levels pass; one more is refused, as a payload and as a reply.
      expect(Exit.isSuccess(Codec.encodePayloadExit(Echo, make(Contract.maxDepth)))).toBe(true)
      expect(Codec.replyInChild(Echo, make(Contract.maxDepth))).toMatchObject({ _tag: "Success" })
      const refused = Codec.encodePayloadExit(Echo, make(Contract.maxDepth + 1))
      expect(Exit.isFailure(refused) && String(refused.cause)).toContain("ArgumentEncodeError")
      expect(Exit.isFailure(refused) && String(refused.cause)).toContain(
        `nested more than ${Contract.maxDepth} levels deep`
      )
      const reply = Codec.replyInChild(Echo, make(Contract.maxDepth + 1))
      expect(reply).toMatchObject({ _tag: "EncodeFailed" })
      expect((reply as { message: string }).message).toContain(`nested more than ${Contract.maxDepth} levels deep`)
    }
  })
})
