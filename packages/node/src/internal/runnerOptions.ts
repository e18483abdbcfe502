/**
 * How a parent hands a child its runner options: one `--troupe-runner=`
 * argument holding JSON, read back by the child's entry (process or thread),
 * and a `--troupe-bundle=` argument when the child starts from a bundle.
 *
 * @internal
 */
import type * as ChildRunner from "@troupe/core/ChildRunner"

const flag = "--troupe-runner="
const bundleFlag = "--troupe-bundle="

/** The argument that carries `options` to a child. */
export const toArgument = (options: ChildRunner.Options): string => `${flag}${JSON.stringify(options)}`

/** The options in this child's arguments, over `defaults`. */
export const fromArguments = (argv: ReadonlyArray<string>, defaults: ChildRunner.Options): ChildRunner.Options => {
  const argument = argv.find((arg) => arg.startsWith(flag))
  return argument === undefined ? defaults : { ...defaults, ...JSON.parse(argument.slice(flag.length)) }
}

/** The arguments that start a child with `options`, from `bundle` when there is one (the options then say so). */
export const childArguments = (options: ChildRunner.Options, bundle: string | undefined): Array<string> => {
  const runner = toArgument({ ...options, bundled: bundle !== undefined })
  return bundle === undefined ? [runner] : [runner, `${bundleFlag}${bundle}`]
}

/** The bundle this child was started from, if any. */
export const bundleOf = (argv: ReadonlyArray<string>): string | undefined =>
  argv.find((arg) => arg.startsWith(bundleFlag))?.slice(bundleFlag.length)
