/**
 * How a child process ended: an exit code or a signal, never both.
 *
 * The same table as Python's `Process.exitcode`, split in two fields instead
 * of folding signals into negative numbers: a normal return gives
 * `{ code: 0, signal: null }`, `process.exit(8)` gives `{ code: 8 }`, an
 * uncaught error gives `{ code: 1 }`, and `kill` gives
 * `{ code: null, signal: "SIGKILL" }`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @example
 * ```ts
 * import { ExitStatus } from "@troupe/core"
 *
 * const status = new ExitStatus.ExitStatus({ code: null, signal: "SIGTERM" })
 * ExitStatus.isSuccess(status) // false
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class ExitStatus extends Schema.Class<ExitStatus>("@troupe/core/ExitStatus")({
  code: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String)
}) {
  override toString(): string {
    return this.signal === null ? `exit code ${this.code}` : `signal ${this.signal}`
  }
}

/**
 * `true` when the child exited with code 0.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSuccess = (status: ExitStatus): boolean => status.code === 0
