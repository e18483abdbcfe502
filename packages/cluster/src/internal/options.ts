/**
 * Checks on the cluster package's option values, each refusing a bad value
 * with an `InvalidOption` that names the option, where it is given: core's
 * own checks (`@troupe/core/Check`), so that a cluster option is refused as
 * a local one is, and the few only the cluster has.
 *
 * A check returns the error, or `undefined` for a good (or absent) value;
 * `firstInvalid` picks the first error of several.
 *
 * @internal
 */
import { nonEmptyString, refuse } from "@troupe/core/Check"
import type { InvalidOption } from "@troupe/core/TroupeError"

export {
  firstInvalid,
  nonEmptyString,
  nonNegativeInteger,
  optionsObject,
  positiveDuration,
  positiveInteger,
  refuse
} from "@troupe/core/Check"

/** `nonEmptyString`, when given. */
export const optionalNonEmptyString = (option: string, value: unknown): InvalidOption | undefined =>
  value === undefined ? undefined : nonEmptyString(option, value)

/** A TCP port: an integer from 1 to 65535. */
export const port = (option: string, n: unknown): InvalidOption | undefined =>
  n === undefined || (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535)
    ? undefined
    : refuse(option, "must be an integer from 1 to 65535", n)
