/**
 * The option checks Troupe's own packages share: `@troupe/node` and
 * `@troupe/cluster` refuse a bad option with the same `InvalidOption`, in
 * the same words, as `@troupe/core` does, from one copy of each check. Not
 * part of the API a program uses (it is not exported from the package's
 * index, nor documented there), and it may change in any release.
 *
 * @internal
 */
export {
  describeValue,
  durationMillis,
  expected,
  firstInvalid,
  nonEmptyString,
  nonNegativeDuration,
  nonNegativeInteger,
  oneOf,
  optionsObject,
  positiveDuration,
  positiveInteger,
  refuse,
  stringArray,
  stringRecord
} from "./internal/options.ts"
