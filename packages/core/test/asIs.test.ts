/**
 * The codec's shortcut (asIs.ts) against Schema's parser: on generated
 * values, near misses included, every value the shortcut passes is one the
 * parser passes, as an equal value; an encoded value is a copy that shares
 * no object with the caller's; Schemas the parser must run have no shortcut.
 */
import { describe, expect, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import { copiedBy, decodedAsIsBy, notAsIs } from "../src/internal/wire/asIs.ts"

const Row = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  kind: Schema.Literals(["a", "b", 3, true]),
  tags: Schema.Array(Schema.String),
  parent: Schema.NullOr(Schema.Struct({ id: Schema.Number })),
  note: Schema.optionalKey(Schema.String),
  meta: Schema.Unknown
})

/** Schemas with a shortcut, each with a valid value to start from. */
const shortcut: ReadonlyArray<readonly [string, Schema.Top, unknown]> = [
  [
    "rows",
    Schema.Array(Row),
    [
      { id: 1, name: "x", kind: "a", tags: ["t"], parent: null, meta: { deep: [1, "two", null, { three: true }] } },
      { id: 2.5, name: "", kind: 3, tags: [], parent: { id: 0 }, note: "n", meta: null }
    ]
  ],
  ["unknown", Schema.Unknown, { a: [1, { b: "c" }], d: null, e: true }],
  ["literals", Schema.Literals(["on", "off"]), "on"],
  ["nullable struct", Schema.NullOr(Schema.Struct({ at: Schema.Number })), { at: 1 }],
  ["matrix", Schema.Array(Schema.Array(Schema.Number)), [[1, 2], [], [3]]]
]

/** Schemas whose parser does more than check (a check, a transformation, a default, stripped or inherited keys). */
const parserOnly: ReadonlyArray<readonly [string, Schema.Top]> = [
  ["a check", Schema.Struct({ n: Schema.Number.check(Schema.isGreaterThan(0)) })],
  ["a transformation", Schema.Struct({ at: Schema.Date })],
  ["a record", Schema.Record(Schema.String, Schema.Number)],
  ["an optional that takes undefined", Schema.Struct({ n: Schema.optional(Schema.Number) })],
  ["a key Object.prototype has", Schema.Struct({ toString: Schema.String })],
  ["a class", Schema.Class<{ a: number }>("AsIsClass")({ a: Schema.Number })],
  ["a tuple", Schema.Tuple([Schema.Number, Schema.String])],
  ["a bigint literal", Schema.Literal(1n)],
  ["a union of two structs", Schema.Union([Schema.Struct({ a: Schema.Number }), Schema.Struct({ b: Schema.Number })])],
  ["a union with Unknown", Schema.Union([Schema.Number, Schema.Unknown])],
  ["Any", Schema.Any]
]

/** A small seeded generator, so that a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
  return seed / 2_147_483_648
}

class Point {
  x = 1
}

/** Values that are not JSON data or do not fit: what a near miss puts in place of a part. */
const odd = (): ReadonlyArray<unknown> => {
  const holes = new Array<number>(3)
  holes[0] = 1
  holes[2] = 3
  const nullObject = Object.assign(Object.create(null), { id: 1 })
  const protoKey = JSON.parse('{"__proto__": {"id": 1}}')
  const circular: Record<string, unknown> = {}
  circular.self = circular
  let deep: unknown = 1
  for (let depth = 0; depth < 40; depth++) deep = [deep]
  return [
    undefined,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -0,
    1n,
    Symbol("s"),
    () => 1,
    new Date(0),
    new Map([[1, 2]]),
    new Point(),
    new Uint8Array(2),
    holes,
    nullObject,
    protoKey,
    circular,
    deep,
    "a",
    3,
    true,
    null,
    {},
    []
  ]
}

/** A near miss of `value`: one part of it replaced, a key added or dropped, or a part set to an odd value. */
const mutate = (value: unknown, next: () => number): unknown => {
  const odds = odd()
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
  if (typeof value !== "object" || value === null || next() < 0.25) return next() < 0.5 ? pick(odds) : value
  if (Array.isArray(value)) {
    if (value.length === 0) return next() < 0.5 ? [pick(odds)] : value
    const copy = [...value]
    copy[Math.floor(next() * copy.length)] = mutate(copy[Math.floor(next() * copy.length)], next)
    return copy
  }
  const record = { ...(value as Record<string, unknown>) }
  const keys = Object.keys(record)
  const choice = next()
  if (choice < 0.2) record.extra = 1
  else if (choice < 0.35 && keys.length > 0) delete record[pick(keys)]
  else if (keys.length > 0) {
    const key = pick(keys)
    record[key] = mutate(record[key], next)
  }
  return record
}

/** A value in a failure's message (some cannot be made a string). */
const show = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? typeof value
  } catch {
    return typeof value
  }
}

/** Every object inside a value, to check that a copy shares none with the original. */
const objectsOf = (value: unknown, into = new Set<object>()): Set<object> => {
  if (typeof value === "object" && value !== null && !into.has(value)) {
    into.add(value)
    for (const item of Object.values(value)) objectsOf(item, into)
  }
  return into
}

describe("the codec's shortcut (asIs.ts) against Schema's parser", () => {
  for (const [name, schema, valid] of shortcut) {
    it(`${name}: what it passes, the parser passes as an equal value; an encoded value is a copy`, () => {
      const codec = Schema.toCodecJson(schema) as unknown as Schema.Codec<unknown, unknown>
      const decode = Schema.decodeUnknownExit(codec)
      const encode = Schema.encodeUnknownExit(codec)
      const decodedAsIs = decodedAsIsBy(schema)!
      const copied = copiedBy(schema)!
      expect(decodedAsIs).toBeTypeOf("function")
      expect(copied).toBeTypeOf("function")
      const next = random(name.length * 7919)
      let passed = 0
      let left = 0
      for (let round = 0; round < 3000; round++) {
        // Every third value is valid, the rest near misses of one to three changes.
        let value = valid
        if (round % 3 !== 0)
          for (let changes = 1 + Math.floor(next() * 3); changes > 0; changes--) value = mutate(value, next)
        if (decodedAsIs(value)) {
          passed++
          const parsed = decode(value)
          expect(Exit.isSuccess(parsed), `decoded as is: ${show(value)}`).toBe(true)
          expect((parsed as Exit.Success<unknown>).value).toStrictEqual(value)
        } else left++
        const copy = copied(value)
        if (copy !== notAsIs) {
          // What encodes as is decodes as is (not always back: a null-prototype object is not copied).
          expect(decodedAsIs(value)).toBe(true)
          const parsed = encode(value)
          expect(Exit.isSuccess(parsed), `encoded as is: ${show(value)}`).toBe(true)
          expect(copy).toStrictEqual((parsed as Exit.Success<unknown>).value)
          const originals = objectsOf(value)
          for (const object of objectsOf(copy)) expect(originals.has(object)).toBe(false)
        }
      }
      // Neither side is empty: the generator reaches both.
      expect(passed).toBeGreaterThan(1000)
      expect(left).toBeGreaterThan(300)
    })
  }

  for (const [name, schema] of parserOnly) {
    it(`a Schema with ${name} has no shortcut`, () => {
      expect(decodedAsIsBy(schema)).toBeUndefined()
      expect(copiedBy(schema)).toBeUndefined()
    })
  }

  it("an object from another realm, a null-prototype struct and a throwing getter are left to the parser", () => {
    const struct = Schema.Struct({ id: Schema.Number })
    const nullObject = Object.assign(Object.create(null), { id: 1 })
    const throwing = Object.defineProperty({}, "id", {
      enumerable: true,
      get: () => {
        throw new Error("read")
      }
    })
    expect(decodedAsIsBy(struct)!(nullObject)).toBe(false)
    expect(decodedAsIsBy(struct)!(throwing)).toBe(false)
    expect(copiedBy(struct)!(throwing)).toBe(notAsIs)
    // `Unknown` keeps a null-prototype object when decoding (Effect's check does), and leaves its copy to the parser.
    expect(decodedAsIsBy(Schema.Unknown)!(nullObject)).toBe(true)
    expect(copiedBy(Schema.Unknown)!(nullObject)).toBe(notAsIs)
  })
})
