/**
 * One `effect`: a clear error when a task's schemas come from another copy
 * of `effect` than the one Troupe uses.
 *
 * With two copies loaded (an app and a linked or differently-versioned
 * Troupe each resolving their own), a schema built by one copy is checked
 * by the other, and valid payloads are refused with errors such as
 * `Expected an integer`. Schemas cross copies without complaint (their type
 * id is a string), but their AST nodes are instances of one copy's classes:
 * `Task.make` checks that, at the module's load, and names both copies'
 * locations when they differ.
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/** The prototype every AST node of this copy of `effect` inherits from. */
const astRoot = (() => {
  let prototype: object = Schema.String.ast
  for (;;) {
    const parent = Object.getPrototypeOf(prototype) as object | null
    if (parent === null || parent === Object.prototype) return prototype
    prototype = parent
  }
})()

/** Whether `schema` (anything with an AST) was built by the copy of `effect` this module uses. */
export const isFromThisEffect = (schema: unknown): boolean =>
  !Predicate.hasProperty(schema, "ast") || Object.prototype.isPrototypeOf.call(astRoot, schema.ast as object)

/** The folder of the `effect` package a resolved entry file belongs to. */
const packageFolder = (file: string): string =>
  file.replace(/^file:\/\//, "").replace(/\/(dist|src)\/index\.[jt]s$/, "")

/** Where `effect` resolves from `module` (a file URL), on platforms that can tell. */
const effectSeenFrom = (module: string): string => {
  try {
    const nodeModule = (
      globalThis as {
        process?: {
          getBuiltinModule?: (id: string) => { createRequire: (from: string) => { resolve: (id: string) => string } }
        }
      }
    ).process?.getBuiltinModule?.("node:module")
    if (nodeModule !== undefined) return packageFolder(nodeModule.createRequire(module).resolve("effect"))
  } catch {}
  return "(unknown location)"
}

/** Where this module's `effect` lives. */
const ownEffect = (): string => {
  try {
    return packageFolder(import.meta.resolve("effect"))
  } catch {
    return "(unknown location)"
  }
}

/**
 * Throws when one of `schemas` comes from another copy of `effect`, with a
 * message that names both copies.
 */
export const assertOneEffect = (what: string, module: () => string, schemas: ReadonlyArray<unknown>): void => {
  if (schemas.every(isFromThisEffect)) return
  throw new globalThis.Error(
    `${what} uses a Schema from another copy of effect than @troupe/core's: two copies of effect are loaded.\n` +
      `  ${module()} resolves effect at ${effectSeenFrom(module())}\n` +
      `  @troupe/core resolves effect at ${ownEffect()}\n` +
      "A schema checked by the other copy refuses valid values. Install one copy: effect and " +
      "@effect/platform-node are peer dependencies of Troupe; `npm ls effect` shows the copies."
  )
}
