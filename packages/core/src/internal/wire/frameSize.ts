/**
 * How many bytes a value takes in a frame (its JSON, in UTF-8), found
 * without writing the JSON when a cheap bound shows that it fits.
 *
 * A forked child's parent takes at most `maxFrameBytes` in one frame and
 * kills a child that sends more (`Transport.SpawnOptions.maxFrameBytes`), so
 * the child checks each reply before it sends it. Writing every reply's JSON
 * to measure it would double the child's encoding work; instead `size` walks
 * the value and adds an upper bound of each part: a string 6 bytes for each
 * UTF-16 unit (the longest escape, `\u001f`, is 6 bytes, and no unit takes
 * more than 3 bytes of UTF-8) and its quotes, a number 25 bytes (the longest
 * a double is written, `-0.0000012345678901234567`), a key as a string with
 * its colon and comma. The walk stops as soon as the bound passes the budget;
 * only then is the JSON written, and measured exactly. A successful task's
 * reply (a number, a short string, a small object) costs one walk over it.
 *
 * @internal
 */
import { utf8Length } from "./codec.ts"

/** The most JSON writes for a number (or `null`, for one that is not finite). */
const maxNumberBytes = 25

/**
 * What a frame holds besides its replies, at most (its tag, the resident set
 * size), and besides the value of its one reply (its id, tag and field
 * names): a reply alone may take the frame limit less this.
 */
export const envelopeBytes = 1024

/** What a reply kept with others takes besides its value, at most: its id, its tag, its field names, a comma. */
export const replyBytes = 64

/**
 * An upper bound of the bytes of `value`'s JSON, added to `total`; the walk
 * stops once the bound passes `budget`. A value too deep to walk (or that
 * throws as it is read) has no bound: `Infinity`.
 */
export const bound = (value: unknown, budget: number, total = 0): number => {
  switch (typeof value) {
    case "string":
      return total + 6 * value.length + 2
    case "number":
      return total + maxNumberBytes
    case "boolean":
      return total + 5
    case "object": {
      if (value === null) return total + 4
      try {
        // `JSON.stringify` writes what `toJSON` returns (a `Date`, a `Buffer`): measured as it is written.
        if (typeof (value as { toJSON?: unknown }).toJSON === "function")
          return total + (exactSize(value) ?? Number.POSITIVE_INFINITY)
        total += 2
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length && total <= budget; i++) total = bound(value[i], budget, total + 1)
          return total
        }
        const keys = Object.keys(value)
        for (let i = 0; i < keys.length && total <= budget; i++) {
          const key = keys[i]!
          total = bound((value as Record<string, unknown>)[key], budget, total + 6 * key.length + 4)
        }
        return total
      } catch {
        return Number.POSITIVE_INFINITY
      }
    }
    case "bigint":
      return total + String(value).length
    default:
      // `undefined`, a function, a symbol: left out of an object, `null` in an array.
      return total + 4
  }
}

/** The UTF-8 bytes of `value`'s JSON, written to measure it; `undefined` when it has none (`JSON.stringify` throws). */
export const exactSize = (value: unknown): number | undefined => {
  try {
    return utf8Length(JSON.stringify(value) ?? "")
  } catch {
    return undefined
  }
}

/**
 * The bytes `value`'s JSON takes, or more: its `bound` when that is within
 * `budget`, else its exact size (which may be within it after all).
 * `undefined` when the value has no JSON (a cycle, a `bigint`, nesting too
 * deep): the channel refuses such a value itself, as `EncodeFailed`.
 */
export const size = (value: unknown, budget: number): number | undefined => {
  const upper = bound(value, budget)
  return upper <= budget ? upper : exactSize(value)
}
