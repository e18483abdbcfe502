/**
 * The codec's shortcut: the values a task's Schemas pass on as they are,
 * found without running Schema's parser (see codec.ts).
 *
 * Most of a task's codec cost is Schema's parser, which builds a new value
 * (every object and array of it) even when it changes nothing, and pays
 * for a `WeakMap` of every object to check that an `Unknown` is JSON data.
 * A Schema made of `String`, `Number` (finite), `Boolean`, `Null`,
 * `Unknown` (JSON data), literals, arrays, structs (with optional keys) and
 * unions of those (nullable or literal unions; at most one member that is
 * not a leaf), with no check, transformation or default anywhere, has a JSON
 * codec that hands on a value fitting it exactly (a plain object with no
 * key the struct does not declare, which the parser would strip) as an equal
 * value (a struct's object made as JSON makes them, with `Object.prototype`).
 * For such a Schema the shortcut reads the value once:
 *
 * - decoding (`decodedAsIsBy`) keeps the value itself: it comes fresh off
 *   the wire, nobody else holds it;
 * - encoding (`copiedBy`) makes a copy (the parser copies structs and
 *   arrays; the shortcut copies what an `Unknown` holds too): what goes on
 *   the wire is the value as it was at the call, whatever the caller does to
 *   its own object before the pool sends it (a payload waits for the end of
 *   the caller's tick, a reply for the child's next flush).
 *
 * A bare `String`, `Number` or `Boolean` (`unchangedBy`) is its own
 * encoding and decoding: it needs neither.
 *
 * The shortcut is never a judge: a value it does not fit at once (a
 * mismatch, an extra key, a value nested deeper than 256, an object from
 * another realm) gets `notAsIs`, and the codec then runs Schema's parser,
 * which decides and words the error. So it may only pass values the parser
 * passes, as equal values (asIs.test.ts checks both against the parser).
 *
 * @internal
 */
import type * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"

/** What a shortcut gives for a value it does not fit: the parser decides. */
export const notAsIs: unique symbol = Symbol.for("@troupe/core/notAsIs")

/** A shortcut: the value as it passes (itself, or a copy when encoding), or `notAsIs`. */
export type AsIs = (u: unknown) => unknown

/** A shortcut's test: whether the value fits (and passes as itself). */
export type Fits = (u: unknown) => boolean

const isFiniteNumber: Fits = (u) => typeof u === "number" && Number.isFinite(u)
const isString: Fits = (u) => typeof u === "string"
const isBoolean: Fits = (u) => typeof u === "boolean"

/**
 * The values a Schema's codec returns as they are, both ways, with nothing
 * to copy: a bare `String`, `Boolean` or `Number` (finite numbers only).
 * `undefined` for any other Schema.
 */
export const unchangedBy = (schema: Schema.Top): Fits | undefined => {
  const ast = schema.ast
  if (!isBare(ast, false)) return undefined
  switch (ast._tag) {
    case "Number":
      return isFiniteNumber
    case "String":
      return isString
    case "Boolean":
      return isBoolean
    default:
      return undefined
  }
}

/**
 * The shortcut for decoding a value of `schema`: `true` when the parser
 * would decode it to an equal value, which may then be kept as it is.
 * `undefined` when the Schema has no shortcut.
 */
export const decodedAsIsBy = (schema: Schema.Top): Fits | undefined => {
  // A bare leaf's test as it is: one call on the path of every tiny task.
  const unchanged = unchangedBy(schema)
  if (unchanged !== undefined) return unchanged
  const read = compile(schema.ast, false, false)
  return read === undefined ? undefined : (u) => guarded(read, u) !== notAsIs
}

/**
 * The shortcut for encoding a value of `schema`: a copy of it, equal to
 * what the parser would give, or `notAsIs`. `undefined` when the Schema has
 * no shortcut.
 */
export const copiedBy = (schema: Schema.Top): AsIs | undefined => {
  const read = compile(schema.ast, false, true)
  return read === undefined ? undefined : (u) => guarded(read, u)
}

/** A value whose reading throws (a getter, a proxy) is the parser's to judge. */
const guarded = (read: AsIs, u: unknown): unknown => {
  try {
    return read(u)
  } catch {
    return notAsIs
  }
}

/**
 * A node with nothing on it that the parser would run: no check, no
 * transformation. Outside a struct's field, no key settings either (in a
 * field, being optional changes nothing in a value that fits).
 */
const isBare = (ast: SchemaAST.AST, inField: boolean): boolean =>
  ast.checks === undefined &&
  ast.encoding === undefined &&
  (inField || ast.context === undefined) &&
  (ast as { readonly encodingChecks?: unknown }).encodingChecks === undefined

// Each leaf's shortcut tests its value itself: one call per field, not two.
const finiteNumberLeaf: AsIs = (u) => (typeof u === "number" && Number.isFinite(u) ? u : notAsIs)
const stringLeaf: AsIs = (u) => (typeof u === "string" ? u : notAsIs)
const booleanLeaf: AsIs = (u) => (typeof u === "boolean" ? u : notAsIs)
const nullLeaf: AsIs = (u) => (u === null ? u : notAsIs)

/** The shortcut of a leaf (a value its codec hands on as it is), `copy`ing what `Unknown` holds. */
const leafOf = (ast: SchemaAST.AST, copy: boolean): AsIs | undefined => {
  switch (ast._tag) {
    case "Number":
      return finiteNumberLeaf
    case "String":
      return stringLeaf
    case "Boolean":
      return booleanLeaf
    case "Null":
      return nullLeaf
    case "Unknown":
      return (u) => plainJson(u, [], copy)
    case "Literal": {
      const literal = ast.literal
      if (typeof literal === "string" || typeof literal === "boolean" || Number.isFinite(literal)) {
        return (u) => (u === literal ? u : notAsIs)
      }
      return undefined
    }
    default:
      return undefined
  }
}

const compile = (ast: SchemaAST.AST, inField: boolean, copy: boolean): AsIs | undefined => {
  if (!isBare(ast, inField)) return undefined
  switch (ast._tag) {
    case "Arrays": {
      if (ast.elements.length !== 0 || ast.rest.length !== 1) return undefined
      const item = compile(ast.rest[0]!, false, copy)
      return item === undefined ? undefined : arrayOf(item, copy)
    }
    case "Objects": {
      if (ast.indexSignatures.length !== 0) return undefined
      const fields: Array<Field> = []
      for (const property of ast.propertySignatures) {
        const field = fieldOf(property, copy)
        if (field === undefined) return undefined
        fields.push(field)
      }
      return structOf(fields, copy)
    }
    case "Union":
      return ast.options?.mode === "oneOf" ? undefined : unionOf(ast.types, copy)
    default:
      return leafOf(ast, copy)
  }
}

const arrayOf =
  (item: AsIs, copy: boolean): AsIs =>
  (u) => {
    if (!Array.isArray(u)) return notAsIs
    const out = copy ? new Array(u.length) : u
    for (let index = 0; index < u.length; index++) {
      const value = item(u[index])
      if (value === notAsIs) return notAsIs
      if (copy) out[index] = value
    }
    return out
  }

interface Field {
  readonly name: string
  readonly optional: boolean
  readonly read: AsIs
}

/** A struct's field: a bare type, or one made optional (`Schema.optionalKey`) with no default. */
const fieldOf = (property: SchemaAST.PropertySignature, copy: boolean): Field | undefined => {
  const { name, type } = property
  // A key `Object.prototype` has is found by the parser on any object (it reads inherited keys): left to it.
  if (typeof name !== "string" || name in Object.prototype) return undefined
  const context = type.context
  if (context !== undefined && context.constructorDefault !== undefined) return undefined
  const read = compile(type, true, copy)
  return read === undefined ? undefined : { name, optional: context?.isOptional === true, read }
}

/**
 * A struct fits when it is a plain object with each required field, a
 * fitting value in each field it has, and no other key (the parser would
 * strip it). Its copy has the fields in the struct's order, as the parser's.
 */
const structOf =
  (fields: ReadonlyArray<Field>, copy: boolean): AsIs =>
  (u) => {
    if (typeof u !== "object" || u === null || Array.isArray(u) || !isPlainObject(u)) return notAsIs
    const record = u as Record<string, unknown>
    const out: Record<string, unknown> | undefined = copy ? {} : undefined
    let present = 0
    for (let index = 0; index < fields.length; index++) {
      const field = fields[index]!
      const value = record[field.name]
      // Absent (the struct declares no key `Object.prototype` has, so only an own key reads as a value).
      if (value === undefined && !Object.hasOwn(record, field.name)) {
        if (field.optional) continue
        return notAsIs
      }
      const passed = field.read(value)
      if (passed === notAsIs) return notAsIs
      if (out !== undefined) out[field.name] = passed
      present++
    }
    let keys = 0
    for (const _ in record) keys++
    return keys === present ? (out ?? u) : notAsIs
  }

/**
 * A union's shortcut, when the parser's choice among its members cannot
 * matter: they are leaves (not `Unknown`, which fits anything) and at most
 * one other, so a value fits one kind of member, whose codec passes it on.
 */
const unionOf = (members: ReadonlyArray<SchemaAST.AST>, copy: boolean): AsIs | undefined => {
  const reads: Array<AsIs> = []
  let nested = 0
  for (const member of members) {
    if (member._tag === "Unknown" || !isBare(member, false)) return undefined
    const read = leafOf(member, copy) ?? (nested++ === 0 ? compile(member, false, copy) : undefined)
    if (read === undefined) return undefined
    reads.push(read)
  }
  return (u) => {
    for (let index = 0; index < reads.length; index++) {
      const passed = reads[index]!(u)
      if (passed !== notAsIs) return passed
    }
    return notAsIs
  }
}

/** An object as JSON makes them (the parser's own output has this prototype too). */
const isPlainObject = (value: object): boolean => Object.getPrototypeOf(value) === Object.prototype

/** How deep an `Unknown` is read before it is left to Effect's own check. */
const plainDepth = 256

/**
 * A copy of an encoded value that may hold the caller's own objects (what
 * the parser hands on inside an `Unknown` or an `Any`), so that it goes as it
 * was: plain JSON data is copied; anything else (shared memory, a
 * null-prototype object, a value nested deeper than 256) is left as it is.
 */
export const snapshot = (encoded: unknown): unknown => {
  const copy = guarded((u) => plainJson(u, [], true), encoded)
  return copy === notAsIs ? encoded : copy
}

/**
 * An `Unknown`: JSON data as Effect's JSON check accepts it ("Expected JSON
 * value"), as itself or as a copy; `notAsIs` for a value nested deeper than
 * 256 and for an object from another realm, which Effect's check settles.
 */
const plainJson = (value: unknown, ancestors: Array<object>, copy: boolean): unknown => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return Number.isFinite(value) ? value : notAsIs
    case "object":
      if (value === null) return value
      break
    default:
      return notAsIs
  }
  if (ancestors.length === plainDepth || ancestors.includes(value)) return notAsIs
  ancestors.push(value)
  let out: unknown = value
  if (Array.isArray(value)) {
    const array = copy ? new Array(value.length) : value
    for (let index = 0; index < value.length && out !== notAsIs; index++) {
      const item: unknown = value[index]
      // Most arrays hold primitives: those are read here, without a call (a hole reads as undefined: refused).
      const passed =
        typeof item === "string" || item === null || (typeof item === "number" && Number.isFinite(item))
          ? item
          : plainJson(item, ancestors, copy)
      if (passed === notAsIs) out = notAsIs
      else if (copy) array[index] = passed
    }
    if (out !== notAsIs) out = array
  } else if (isPlainObject(value) || (!copy && Object.getPrototypeOf(value) === null)) {
    const record = value as Record<string, unknown>
    const object: Record<string, unknown> = copy ? {} : record
    const keys = Object.keys(record)
    for (let index = 0; index < keys.length && out !== notAsIs; index++) {
      const key = keys[index]!
      // An own `__proto__` key (JSON.parse makes one) would set the copy's prototype: left to Effect's check.
      const passed = copy && key === "__proto__" ? notAsIs : plainJson(record[key], ancestors, copy)
      if (passed === notAsIs) out = notAsIs
      else if (copy) object[key] = passed
    }
    if (out !== notAsIs) out = object
  } else out = notAsIs
  ancestors.pop()
  return out
}
