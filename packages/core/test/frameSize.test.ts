/**
 * The bound a child puts on a reply's bytes before it sends it
 * (`internal/wire/frameSize.ts`): never below the bytes its JSON takes, so a
 * reply the bound lets through always fits the parent's frame limit.
 */
import { describe, expect, it } from "@effect/vitest"
import { utf8Length } from "../src/internal/wire/codec.ts"
import * as FrameSize from "../src/internal/wire/frameSize.ts"

const exact = (value: unknown) => utf8Length(JSON.stringify(value) ?? "")

const samples: ReadonlyArray<readonly [string, unknown]> = [
  ["control characters", '\u0000\u001f\n\t"\\'],
  ["2- and 3-byte characters", "é€ж中"],
  ["surrogate pairs and a lone surrogate", "😀🎉\ud800x"],
  ["the longest numbers", [-0.0000012345678901234567, -1.7976931348623157e308, -2.2250738585072014e-308]],
  ["numbers JSON writes as null", [Number.NaN, Number.POSITIVE_INFINITY]],
  ["literals", [true, false, null]],
  ["values an object leaves out, an array writes as null", [{ a: undefined, f: () => 1 }, [undefined, () => 1]]],
  ["keys that need escapes", { '\u0001é"': 1, "": [] }],
  ["a Date and a nested toJSON", { at: new Date(0), inner: { toJSON: () => "x".repeat(100) } }],
  ["nested objects and arrays", { a: [{ b: [1, "two", { c: null }] }], d: { e: { f: "g" } } }]
]

describe("frameSize", () => {
  it.each(samples)("bounds %s from above", (_, value) => {
    expect(FrameSize.bound(value, Number.POSITIVE_INFINITY)).toBeGreaterThanOrEqual(exact(value))
    expect(FrameSize.size(value, Number.POSITIVE_INFINITY)).toBeGreaterThanOrEqual(exact(value))
  })

  it("measures exactly once the bound passes the budget: a value within it after all is not refused", () => {
    const value = { text: "x".repeat(1000) }
    // The bound counts 6 bytes a character: over 1,100; the JSON is 1,011 bytes.
    expect(FrameSize.bound(value, 1100)).toBeGreaterThan(1100)
    expect(FrameSize.size(value, 1100)).toBe(exact(value))
  })

  it("stops walking once the bound passes the budget", () => {
    let read = 0
    const items = Array.from({ length: 1000 }, () => ({
      get v() {
        read++
        return 1
      }
    }))
    expect(FrameSize.bound(items, 100)).toBeGreaterThan(100)
    expect(read).toBeLessThan(10)
  })

  it("has no size for a value without JSON (a cycle): the channel refuses it itself", () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(FrameSize.size(cycle, 1000)).toBeUndefined()
  })
})
