/**
 * Checks on option values, shared by `Pool`, `Process`, `Task` and per-call
 * options (and, through `Check.ts`, by `@troupe/node` and `@troupe/cluster`):
 * each refuses a bad value with an `InvalidOption` that names the
 * option, where it is given, instead of letting it become an immediate
 * timeout, a kill without grace, or a crash later.
 *
 * A check returns the error, or `undefined` for a good (or absent) value;
 * `firstInvalid` picks the first error of several.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import { InvalidOption } from "../TroupeError.ts"

/** A duration input in milliseconds; `NaN` when it is not one (Effect reads a `NaN` number as 0). */
export const durationMillis = (input: unknown): number => {
  if (typeof input === "number" && Number.isNaN(input)) return Number.NaN
  try {
    return Duration.toMillis(Duration.fromInputUnsafe(input as Duration.Input))
  } catch {
    return Number.NaN
  }
}

/** A refusal of `option`: what it must be (`reason`), and what it was. */
export const refuse = (option: string, reason: string, value: unknown): InvalidOption =>
  new InvalidOption({ option, reason: `${reason}, got ${describeValue(value)}` })

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

/** What an untyped caller gets for an argument of the wrong kind: a defect that says so (`what` names the call). */
export const expected = (what: string, kind: string, value: unknown): TypeError =>
  new TypeError(`${what} expects ${kind}, got ${describeValue(value)}`)

/** `expected` for something that is not a task. */
export const notATask = (what: string, value: unknown): TypeError => expected(what, "a task made by Task.make", value)

/** A deadline: more than zero (infinite means none). */
export const positiveDuration = (option: string, input: unknown): InvalidOption | undefined =>
  input === undefined || durationMillis(input) > 0 ? undefined : refuse(option, "must be a duration over zero", input)

/** A grace or a wait: zero or more (infinite means forever). */
export const nonNegativeDuration = (option: string, input: unknown): InvalidOption | undefined =>
  input === undefined || durationMillis(input) >= 0
    ? undefined
    : refuse(option, "must be a duration of zero or more", input)

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

/** A positive number (not necessarily an integer). */
export const positiveNumber = (option: string, n: number | undefined): InvalidOption | undefined =>
  n === undefined || n > 0 ? undefined : refuse(option, "must be positive", n)

/** A name: a string with something in it. */
export const nonEmptyString = (option: string, value: unknown): InvalidOption | undefined =>
  typeof value === "string" && value.length > 0 ? undefined : refuse(option, "must be a non-empty string", value)

/** One of the `allowed` strings. */
export const oneOf = (option: string, value: unknown, allowed: ReadonlyArray<string>): InvalidOption | undefined =>
  value === undefined || allowed.includes(value as string)
    ? undefined
    : refuse(option, `must be ${allowed.map((one) => JSON.stringify(one)).join(" or ")}`, value)

/** An options argument: an object, or absent. */
export const optionsObject = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined || (typeof value === "object" && value !== null && !Array.isArray(value))
    ? undefined
    : refuse(option, "must be an object", value)

/** A flag: `true`, `false`, or absent. */
export const booleanOption = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined || typeof value === "boolean" ? undefined : refuse(option, "must be true or false", value)

/** An array of strings (a worker's runtime flags). */
export const stringArray = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined || (Array.isArray(value) && value.every((item) => typeof item === "string"))
    ? undefined
    : refuse(option, "must be an array of strings", value)

/** An object whose values are strings or `undefined` (an environment). */
export const stringRecord = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined ||
  (typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => item === undefined || typeof item === "string"))
    ? undefined
    : refuse(option, "must be an object of strings", value)

/** Runs a check that throws (`RestartPolicy`'s own validation), as a check. */
export const thrown = (option: string, check: () => unknown): InvalidOption | undefined => {
  try {
    check()
    return undefined
  } catch (error) {
    return new InvalidOption({ option, reason: error instanceof Error ? error.message : String(error) })
  }
}

/** The first error among `checks`, or `undefined`. */
export const firstInvalid = (...checks: ReadonlyArray<InvalidOption | undefined>): InvalidOption | undefined =>
  checks.find((check) => check !== undefined)
