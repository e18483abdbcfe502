/**
 * Checks on the cluster package's option values, each refusing a bad value
 * with an `InvalidOption` that names the option, where it is given. They
 * mirror core's own checks (`@troupe/core`'s internal `options.ts`, which
 * other packages cannot import): one copy here, used by every cluster
 * module, so that a cluster option is refused as a local one is.
 *
 * A check returns the error, or `undefined` for a good (or absent) value;
 * `firstInvalid` picks the first error of several.
 *
 * @internal
 */
import { InvalidOption } from "@troupe/core/TroupeError"
import * as Duration from "effect/Duration"

/** A value as a message shows it: strings quoted, objects as JSON where they can be. */
export const describeValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "bigint") return `${value}n`
  try {
    return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)
  } catch {
    return String(value)
  }
}

/** A refusal of `option`: what it must be (`reason`), and what it was. */
export const refuse = (option: string, reason: string, value: unknown): InvalidOption =>
  new InvalidOption({ option, reason: `${reason}, got ${describeValue(value)}` })

/** A duration input in milliseconds; `NaN` when it is not one (Effect reads a `NaN` number as 0). */
export const durationMillis = (input: unknown): number => {
  if (typeof input === "number" && Number.isNaN(input)) return Number.NaN
  try {
    return Duration.toMillis(Duration.fromInputUnsafe(input as Duration.Input))
  } catch {
    return Number.NaN
  }
}

/** A deadline: more than zero (infinite means none). */
export const positiveDuration = (option: string, input: unknown): InvalidOption | undefined =>
  input === undefined || durationMillis(input) > 0 ? undefined : refuse(option, "must be a duration over zero", input)

/** A count of at least 1, and at most `max` when given. */
export const positiveInteger = (option: string, n: unknown, max?: number): InvalidOption | undefined => {
  if (n === undefined) return undefined
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) return refuse(option, "must be a positive integer", n)
  return max !== undefined && n > max ? refuse(option, `must be at most ${max}`, n) : undefined
}

/** A count of 0 or more. */
export const nonNegativeInteger = (option: string, n: unknown): InvalidOption | undefined =>
  n === undefined || (typeof n === "number" && Number.isInteger(n) && n >= 0)
    ? undefined
    : refuse(option, "must be a non-negative integer", n)

/** A name: a string with something in it. */
export const nonEmptyString = (option: string, value: unknown): InvalidOption | undefined =>
  typeof value === "string" && value.length > 0 ? undefined : refuse(option, "must be a non-empty string", value)

/** `nonEmptyString`, when given. */
export const optionalNonEmptyString = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined ? undefined : nonEmptyString(option, value)

/** An options argument: an object, or absent. */
export const optionsObject = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined || (typeof value === "object" && value !== null && !Array.isArray(value))
    ? undefined
    : refuse(option, "must be an object", value)

/** A TCP port: an integer from 1 to 65535. */
export const port = (option: string, n: unknown): InvalidOption | undefined =>
  n === undefined || (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535)
    ? undefined
    : refuse(option, "must be an integer from 1 to 65535", n)

/** The first error among `checks`, or `undefined`. */
export const firstInvalid = (...checks: ReadonlyArray<InvalidOption | undefined>): InvalidOption | undefined =>
  checks.find((check) => check !== undefined)
