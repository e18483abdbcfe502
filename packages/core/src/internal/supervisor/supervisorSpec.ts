/**
 * Checks a supervisor's flags and child specs before anything starts.
 *
 * Specs are data, often written by hand or read from configuration: an
 * unknown strategy or restart type, a negative shutdown or a bad duration is
 * refused at `Supervisor.start` (and `Keyed.make`) with an
 * `InvalidSupervisorSpec` naming the field, rather than misbehaving at the
 * first crash. Fields are named from the root: `strategy`, `backoff.max`,
 * `store.intensity` (the flags of the nested supervisor `store`),
 * `store/db.shutdown` (a field of the child `store/db`).
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import type * as Supervisor from "../../Supervisor.ts"
import { InvalidSupervisorSpec } from "../../TroupeError.ts"
import { resolveMailbox } from "../actor/actorCell.ts"
import { durationMillis, stringArray, stringRecord } from "../options.ts"

const strategies: ReadonlyArray<unknown> = ["oneForOne", "oneForAll", "restForOne"]
const autoShutdowns: ReadonlyArray<unknown> = ["never", "anySignificant", "allSignificant"]
const restartTypes: ReadonlyArray<unknown> = ["permanent", "transient", "temporary"]
const childTags: ReadonlyArray<unknown> = ["Worker", "Supervisor", "Dynamic", "Service"]

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A duration in milliseconds, or `NaN` when `value` is not one. */
const millisOf = (value: unknown): number => durationMillis(value as Duration.Input)

const show = (value: unknown): string => (typeof value === "string" ? `"${value}"` : String(value))

const invalid = (field: string, reason: string, value: unknown) =>
  new InvalidSupervisorSpec({ field, reason: `${reason}, got ${show(value)}` })

/** `value` is absent, or a duration of at least `atLeastMs` (strictly more with `strict`). */
export const checkDuration = (
  field: string,
  value: unknown,
  options: { readonly atLeastMs: number; readonly strict?: boolean; readonly finite?: boolean }
): InvalidSupervisorSpec | undefined => {
  if (value === undefined) return undefined
  const ms = millisOf(value)
  const tooSmall = options.strict === true ? !(ms > options.atLeastMs) : !(ms >= options.atLeastMs)
  if (tooSmall || (options.finite === true && !Number.isFinite(ms))) {
    const bound = `${options.strict === true ? ">" : ">="} ${options.atLeastMs} ms`
    return invalid(field, `must be a ${options.finite === true ? "finite " : ""}duration ${bound}`, value)
  }
  return undefined
}

/** `value` is absent, or an integer of at least `min`. */
export const checkInteger = (field: string, value: unknown, min: number): InvalidSupervisorSpec | undefined =>
  value === undefined || (Number.isInteger(value) && (value as number) >= min)
    ? undefined
    : invalid(field, `must be an integer >= ${min}`, value)

/** A backoff: `min`, `max` (finite, `>= min`), `randomFactor >= 0`, `resetAfter >= 0`, `maxRestarts >= 0`. */
export const checkBackoff = (field: string, backoff: unknown): InvalidSupervisorSpec | undefined => {
  if (backoff === undefined) return undefined
  if (!isRecord(backoff)) return invalid(field, "must be an object { min, max, randomFactor }", backoff)
  const min = checkDuration(`${field}.min`, backoff.min ?? Number.NaN, { atLeastMs: 0, finite: true })
  if (min !== undefined) return min
  const max = checkDuration(`${field}.max`, backoff.max ?? Number.NaN, {
    atLeastMs: millisOf(backoff.min),
    finite: true
  })
  if (max !== undefined) return max
  const factor = backoff.randomFactor
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 0) {
    return invalid(`${field}.randomFactor`, "must be a finite number >= 0", factor)
  }
  return (
    checkDuration(`${field}.resetAfter`, backoff.resetAfter, { atLeastMs: 0 }) ??
    checkInteger(`${field}.maxRestarts`, backoff.maxRestarts, 0)
  )
}

/** A supervisor's flags; `at` prefixes the field names (`""` for the root, `"store."` for a nested one). */
export const checkOptions = (options: unknown, at: string): InvalidSupervisorSpec | undefined => {
  if (!isRecord(options)) return invalid(at === "" ? "options" : `${at}options`, "must be an object", options)
  if (options.name !== undefined && typeof options.name !== "string") {
    return invalid(`${at}name`, "must be a string", options.name)
  }
  if (options.strategy !== undefined && !strategies.includes(options.strategy)) {
    return invalid(`${at}strategy`, `must be one of ${strategies.join(", ")}`, options.strategy)
  }
  if (options.autoShutdown !== undefined && !autoShutdowns.includes(options.autoShutdown)) {
    return invalid(`${at}autoShutdown`, `must be one of ${autoShutdowns.join(", ")}`, options.autoShutdown)
  }
  return (
    checkInteger(`${at}intensity`, options.intensity, 0) ??
    checkInteger(`${at}maxChildren`, options.maxChildren, 0) ??
    checkDuration(`${at}period`, options.period, { atLeastMs: 0, strict: true }) ??
    checkBackoff(`${at}backoff`, options.backoff)
  )
}

/** How long a child gets to stop: `"brutalKill"`, `"infinity"` or an integer of milliseconds `>= 0`. */
export const checkShutdown = (field: string, shutdown: unknown): InvalidSupervisorSpec | undefined =>
  shutdown === "brutalKill" || shutdown === "infinity" || (Number.isInteger(shutdown) && (shutdown as number) >= 0)
    ? undefined
    : invalid(field, `must be "brutalKill", "infinity" or an integer of milliseconds >= 0`, shutdown)

/** A child id: a non-empty string without `/` (paths are ids joined by `/`). */
export const checkId = (field: string, id: unknown): InvalidSupervisorSpec | undefined =>
  typeof id === "string" && id.length > 0 && !id.includes("/")
    ? undefined
    : invalid(field, `must be a non-empty string without "/"`, id)

const checkChild = (
  child: unknown,
  index: number,
  parent: string,
  autoShutdown: unknown
): InvalidSupervisorSpec | undefined => {
  const at = `${parent === "" ? "" : `${parent}.`}children[${index}]`
  if (!isRecord(child)) return invalid(at, "must be a child spec (Supervisor.worker or Supervisor.supervisor)", child)
  const id = child.id
  const badId = checkId(`${at}.id`, id)
  if (badId !== undefined) return badId
  const path = parent === "" ? String(id) : `${parent}/${String(id)}`
  if (!childTags.includes(child._tag)) {
    return invalid(`${path}._tag`, `must be one of ${childTags.join(", ")}`, child._tag)
  }
  if (!restartTypes.includes(child.restart)) {
    return invalid(`${path}.restart`, `must be one of ${restartTypes.join(", ")}`, child.restart)
  }
  const shutdown = checkShutdown(`${path}.shutdown`, child.shutdown)
  if (shutdown !== undefined) return shutdown
  if (child.significant !== undefined && typeof child.significant !== "boolean") {
    return invalid(`${path}.significant`, "must be a boolean", child.significant)
  }
  // OTP's rules: a significant child is never permanent, and only a supervisor that shuts down automatically has any.
  if (child.significant === true && child.restart === "permanent") {
    return invalid(`${path}.significant`, "cannot be true for a permanent child", child.significant)
  }
  if (child.significant === true && (autoShutdown ?? "never") === "never") {
    return invalid(`${path}.significant`, `needs the supervisor's autoShutdown, not "never"`, child.significant)
  }
  if (child._tag === "Supervisor") {
    return (
      checkOptions(child.options, `${path}.`) ??
      checkChildren(child.children, path, (child.options as Supervisor.Options).autoShutdown)
    )
  }
  if (child._tag === "Dynamic") {
    return checkOptions(child.options, `${path}.`) ?? checkTemplate(`${path}.template`, child.template)
  }
  if (child._tag === "Service") return undefined
  return (
    checkBehaviour(`${path}.behaviour`, child.behaviour) ??
    checkMailbox(`${path}.mailbox`, child.mailbox) ??
    checkDuration(`${path}.startTimeout`, child.startTimeout, { atLeastMs: 0, strict: true }) ??
    checkProcessOptions(path, child)
  )
}

/** A worker's process options (`env`, `execArgv`), checked as `Process.start` checks its own. */
const checkProcessOptions = (path: string, options: Record<string, unknown>): InvalidSupervisorSpec | undefined => {
  const refusal = stringRecord("env", options.env) ?? stringArray("execArgv", options.execArgv)
  return refusal === undefined
    ? undefined
    : new InvalidSupervisorSpec({ field: `${path}.${refusal.option}`, reason: refusal.reason })
}

const checkBehaviour = (field: string, behaviour: unknown): InvalidSupervisorSpec | undefined => {
  const shape = behaviour as { readonly module?: unknown; readonly actor?: { readonly name?: unknown } }
  return isRecord(shape) && typeof shape.module === "string" && typeof shape.actor?.name === "string"
    ? undefined
    : invalid(field, "must be a behaviour made with Actor.behaviour", behaviour)
}

/** A dynamic supervisor's template: a behaviour, a restart type, a shutdown, a mailbox and a `start` function. */
export const checkTemplate = (field: string, template: unknown): InvalidSupervisorSpec | undefined => {
  if (!isRecord(template)) return invalid(field, "must be a template made with Supervisor.template", template)
  if (!restartTypes.includes(template.restart)) {
    return invalid(`${field}.restart`, `must be one of ${restartTypes.join(", ")}`, template.restart)
  }
  if (typeof template.start !== "function") return invalid(`${field}.start`, "must be a function", template.start)
  if (template.args !== undefined && !Schema.isSchema(template.args)) {
    return invalid(`${field}.args`, "must be a Schema", template.args)
  }
  return (
    checkShutdown(`${field}.shutdown`, template.shutdown) ??
    checkBehaviour(`${field}.behaviour`, template.behaviour) ??
    checkMailbox(`${field}.mailbox`, template.mailbox) ??
    checkDuration(`${field}.startTimeout`, template.startTimeout, { atLeastMs: 0, strict: true })
  )
}

/** A mailbox's options, as the actor cell reads them. */
export const checkMailbox = (field: string, mailbox: unknown): InvalidSupervisorSpec | undefined => {
  if (mailbox === undefined) return undefined
  if (!isRecord(mailbox)) return invalid(field, "must be an object", mailbox)
  try {
    resolveMailbox(mailbox)
  } catch (error) {
    return new InvalidSupervisorSpec({ field, reason: error instanceof Error ? error.message : String(error) })
  }
  return checkDuration(`${field}.askTimeout`, mailbox.askTimeout, { atLeastMs: 0, strict: true })
}

/** The children of the supervisor at `parent` (`""` for the root): each spec, and ids unique among siblings. */
export const checkChildren = (
  children: unknown,
  parent: string,
  autoShutdown: unknown
): InvalidSupervisorSpec | undefined => {
  const field = parent === "" ? "children" : `${parent}.children`
  if (!Array.isArray(children)) return invalid(field, "must be an array of child specs", children)
  const seen = new Set<unknown>()
  for (const [index, child] of children.entries()) {
    const bad = checkChild(child, index, parent, autoShutdown)
    if (bad !== undefined) return bad
    const id = (child as Supervisor.ChildSpec).id
    if (seen.has(id)) return invalid(`${field}[${index}].id`, "must be unique among its siblings", id)
    seen.add(id)
  }
  return undefined
}

/** A whole tree: the root's flags, then every child spec, depth first. */
export const check = (options: unknown, children: unknown): InvalidSupervisorSpec | undefined =>
  checkOptions(options, "") ?? checkChildren(children, "", (options as Supervisor.Options).autoShutdown)
