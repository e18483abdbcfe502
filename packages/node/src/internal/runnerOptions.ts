/**
 * How a parent hands a child its runner options: one `--troupe-runner=`
 * argument holding JSON, read back by the child's entry (process or thread).
 *
 * @internal
 */
import type { ChildRunner } from "@troupe/core"

const flag = "--troupe-runner="

/** The argument that carries `options` to a child. */
export const toArgument = (options: ChildRunner.Options): string => `${flag}${JSON.stringify(options)}`

/** The options in this child's arguments, over `defaults`. */
export const fromArguments = (argv: ReadonlyArray<string>, defaults: ChildRunner.Options): ChildRunner.Options => {
  const argument = argv.find((arg) => arg.startsWith(flag))
  return argument === undefined ? defaults : { ...defaults, ...JSON.parse(argument.slice(flag.length)) }
}
