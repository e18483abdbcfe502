/**
 * The serialization contract: what an encoded payload or reply may contain,
 * the same on every backend.
 *
 * A process receives JSON; a thread receives a structured clone. The two
 * differ on everything JSON cannot say (a `Map` becomes `{}` on a process and
 * stays a `Map` on a thread), so a value that a Schema lets through unencoded
 * (`Schema.Any`) must be plain JSON data on both: `null`, booleans, strings,
 * finite numbers, arrays without holes or `undefined`, and objects whose
 * prototype is `Object.prototype` or `null`. Anything else is refused at the
 * call, with what it is and where it is.
 *
 * The check costs nothing for most Schemas: one whose JSON codec's encoded
 * side is JSON by construction (no `Any` inside it) is never walked. Only a
 * Schema with `Any` (or an object keyword) in its encoded side has its
 * encoded values walked, once per call.
 *
 * A value may nest at most `maxDepth` levels deep, on every backend: a worker
 * thread serializes on a stack four times its parent's, and V8 deserializes
 * a frame by recursing once per level, so a parent could not read a deeper
 * reply (and would have to stop the worker that sent it). Only a Schema
 * whose values can nest as deep as a caller likes (an `Unknown`, an `Any`,
 * an object keyword, a recursive part) has its values measured.
 *
 * Two exceptions, for threads only, come from `SharedMemory`'s Schemas: a
 * typed array over a `SharedArrayBuffer` encoded by one of them is shared,
 * and an `ArrayBuffer` encoded by `SharedMemory.Transferred` is moved. A
 * transport that shares memory with its children (threads) accepts them;
 * any other (processes) refuses them, with why.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"

/** Typed arrays encoded by a `SharedMemory` Schema (shared, not copied, on threads). */
const sharedViews = new WeakSet<object>()
/** `ArrayBuffer`s encoded by `SharedMemory.Transferred` (moved, not copied, on threads). */
const transferredBuffers = new WeakSet<object>()

/** Marks a typed array as encoded by a `SharedMemory` Schema. */
export const markShared = <A extends object>(view: A): A => {
  sharedViews.add(view)
  return view
}

/** Marks an `ArrayBuffer` as encoded by `SharedMemory.Transferred`. */
export const markTransferred = <A extends object>(buffer: A): A => {
  transferredBuffers.add(buffer)
  return buffer
}

/** An AST search: whether a node of one of `tags` is somewhere in an AST, remembered per AST. */
interface Search {
  readonly tags: ReadonlySet<string>
  readonly known: WeakMap<SchemaAST.AST, boolean>
}

const search = (tags: ReadonlyArray<string>): Search => ({ tags: new Set(tags), known: new WeakMap() })

const holds = (ast: SchemaAST.AST, by: Search, visiting: Set<SchemaAST.AST>): boolean => {
  const known = by.known.get(ast)
  if (known !== undefined) return known
  if (visiting.has(ast)) return false
  visiting.add(ast)
  const inside = (node: SchemaAST.AST) => holds(node, by, visiting)
  let result: boolean
  switch (ast._tag) {
    case "Declaration":
      result = ast.typeParameters.some(inside)
      break
    case "Arrays":
      result = ast.elements.some(inside) || ast.rest.some(inside)
      break
    case "Objects":
      result =
        ast.propertySignatures.some((property) => inside(property.type)) ||
        ast.indexSignatures.some((index) => inside(index.type))
      break
    case "Union":
      result = ast.types.some(inside)
      break
    case "Suspend":
      result = by.tags.has("Suspend") || inside(ast.thunk())
      break
    default:
      result = by.tags.has(ast._tag)
  }
  visiting.delete(ast)
  by.known.set(ast, result)
  return result
}

/**
 * Values of an encoded AST with `Any` (or an object keyword) somewhere can
 * hold something other than JSON data. `Unknown` and declarations without a
 * JSON form are checked by Effect's own JSON codec ("Expected JSON value"),
 * so they need no walk here.
 */
const letsAnythingThrough = search(["Any", "ObjectKeyword"])

/**
 * Whether the encoded values of `schema`'s JSON codec must be walked: decided
 * once per Schema, from its AST.
 */
export const needsWalk = (schema: Schema.Top): boolean =>
  holds(SchemaAST.toEncoded(Schema.toCodecJson(schema).ast), letsAnythingThrough, new Set())

/** How deep an encoded value may nest (see above). */
export const maxDepth = 1000

/** What the contract asks of a Schema's encoded values: nothing, a bound on their depth, or a walk. */
export type Check = "none" | "depth" | "walk"

const nestsFreely = search(["Unknown", "Any", "ObjectKeyword", "Suspend"])

/** The check of `schema`'s encoded values: decided once per Schema, from its AST. */
export const checkOf = (schema: Schema.Top): Check => {
  if (needsWalk(schema)) return "walk"
  // The type side: an `Unknown`'s JSON codec encodes to a declaration, which the encoded side shows instead.
  return holds(schema.ast, nestsFreely, new Set()) ? "depth" : "none"
}

const tooDeep = `nested more than ${maxDepth} levels deep (a worker thread's parent could not read it)`

/** Whether `value` nests more than `limit` levels of arrays and objects deep. */
const deeperThan = (value: object, limit: number): boolean => {
  if (limit === 0) return true
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index]
      if (typeof item === "object" && item !== null && deeperThan(item, limit - 1)) return true
    }
    return false
  }
  // Shared memory or a transferred buffer (a typed array's indices are not levels).
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return false
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key]
    if (typeof item === "object" && item !== null && deeperThan(item, limit - 1)) return true
  }
  return false
}

/** Why an encoded value of a `"depth"`-checked Schema may not be sent (`root` names it), or `undefined`. */
export const depthRefusal = (value: unknown, root: string): string | undefined =>
  typeof value === "object" && value !== null && deeperThan(value, maxDepth) ? `${root}: ${tooDeep}` : undefined

/** The parser copies structs and arrays, but hands on what these hold as it is. */
const handedOn = search(["Unknown", "Any", "ObjectKeyword"])

/**
 * Whether the parser's encoding of a value of `schema` may still hold the
 * caller's own objects (inside an `Unknown` or an `Any`): decided once per
 * Schema, from its AST.
 */
export const mayHoldCallersObjects = (schema: Schema.Top): boolean => holds(schema.ast, handedOn, new Set())

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

const pathOf = (path: ReadonlyArray<string | number>): string => {
  let text = ""
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`
    else text += identifier.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  }
  return text
}

/** The name of a value's constructor, read without trusting the value; `undefined` when it has none. */
export const constructorName = (value: object): string | undefined => {
  try {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name
    return typeof name === "string" && name !== "" ? name : undefined
  } catch {
    return undefined
  }
}

// "a Uint8Array", "an Int32Array": a leading U is read "you" in these names.
export const article = (name: string): string => (/^[AEIO]/.test(name) ? `an ${name}` : `a ${name}`)

const isShared = (view: ArrayBufferView): boolean =>
  typeof SharedArrayBuffer === "function" && view.buffer instanceof SharedArrayBuffer

/** What a thread-only value needs, said once for both kinds. */
const threadsOnly =
  "only a worker thread shares memory with its parent; a process would receive {} (run the task on NodeThread.layer; actor messages never share memory)"

/** The result of a walk: what the value holds that only threads can take, or the first refusal. */
export interface Walked {
  /** The first value that breaks the contract, as a message with its path; `undefined` when there is none. */
  readonly refused: string | undefined
  /** `ArrayBuffer`s to move (not copy) to a thread, when the value holds some. */
  readonly transfers: ReadonlyArray<ArrayBuffer> | undefined
  /**
   * Whether the value holds an object field set to `undefined`, which a process receives as no field
   * (see `withoutUndefinedFields`).
   */
  readonly undefinedFields: boolean
}

const accepted: Walked = { refused: undefined, transfers: undefined, undefinedFields: false }

/**
 * Walks an encoded value and says whether it keeps the contract. `root` names
 * the value in messages (`payload`, `result`, `error`); `sharing` says whether
 * the transport shares memory with its children (threads).
 */
export const walk = (value: unknown, root: string, sharing: boolean): Walked => {
  const ancestors: Array<object> = []
  let transfers: Array<ArrayBuffer> | undefined
  let undefinedFields = false

  // A refusal carries its path from the value up (keys are pushed as the walk unwinds), so the
  // walk pays for a path only when it refuses.
  const visit = (value: unknown): Refusal | undefined => {
    switch (typeof value) {
      case "string":
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(value)
          ? undefined
          : refusal(`${value} is not a JSON number (a process would receive null); encode it with Schema.Number`)
      case "bigint":
        return refusal("a bigint is not JSON data (a process cannot receive it); encode it with Schema.BigInt")
      case "undefined":
        return refusal("undefined is not JSON data (a process would receive null or nothing)")
      case "function":
        return refusal("a function cannot be sent to another process or thread")
      case "symbol":
        return refusal("a symbol cannot be sent to another process or thread")
    }
    if (value === null) return undefined
    const object = value as object
    if (ancestors.includes(object)) return refusal("a circular reference is not JSON data")
    if (ancestors.length === maxDepth) return refusal(tooDeep)
    if (Array.isArray(object)) {
      if (Object.getPrototypeOf(object) !== Array.prototype) {
        return refusal(`${article(constructorName(object) ?? "Array subclass")} is not plain JSON data`)
      }
      ancestors.push(object)
      for (let index = 0; index < object.length; index++) {
        const item: unknown = object[index]
        // Most arrays hold primitives: those are checked here, without a call.
        if (typeof item === "string" || item === null || (typeof item === "number" && Number.isFinite(item))) continue
        const refused =
          item === undefined && !(index in object)
            ? refusal("an empty slot in an array is not JSON data (a process would receive null)")
            : visit(item)
        if (refused !== undefined) {
          refused.path.push(index)
          return refused
        }
      }
      ancestors.pop()
      return undefined
    }
    const prototype = Object.getPrototypeOf(object)
    if (prototype === Object.prototype || prototype === null) {
      ancestors.push(object)
      for (const key of Object.keys(object)) {
        const field = (object as Record<string, unknown>)[key]
        // JSON drops it: the same to a Schema, unless it requires the key (checked by the caller of the walk).
        if (field === undefined) {
          undefinedFields = true
          continue
        }
        const refused = visit(field)
        if (refused !== undefined) {
          refused.path.push(key)
          return refused
        }
      }
      ancestors.pop()
      return undefined
    }
    if (ArrayBuffer.isView(object) && sharedViews.has(object) && isShared(object)) {
      return sharing
        ? undefined
        : refusal(
            `shared memory (${article(constructorName(object) ?? "typed array")} over a SharedArrayBuffer): ${threadsOnly}`
          )
    }
    if (object instanceof ArrayBuffer && transferredBuffers.has(object)) {
      if (!sharing) return refusal(`a transferred ArrayBuffer: ${threadsOnly}`)
      transfers ??= []
      if (!transfers.includes(object)) transfers.push(object)
      return undefined
    }
    const name = constructorName(object) ?? "object with a prototype"
    if (ArrayBuffer.isView(object) && isShared(object)) {
      return refusal(
        `${article(name)} over a SharedArrayBuffer is shared only through a SharedMemory Schema (SharedMemory.sharedArray(${name})), on threads`
      )
    }
    return refusal(
      `${article(name)} is not plain JSON data (a process would not receive it as it is); give it a Schema that encodes it (Schema.Date, Schema.ReadonlyMap, a Schema.Class...)`
    )
  }

  const refused = visit(value)
  if (refused !== undefined) {
    return {
      refused: `${root}${pathOf(refused.path.reverse())}: ${refused.what}`,
      transfers: undefined,
      undefinedFields: false
    }
  }
  return transfers === undefined && !undefinedFields ? accepted : { refused: undefined, transfers, undefinedFields }
}

/**
 * An encoded value as a process receives it: without its object fields set
 * to `undefined` (JSON drops them). Only for a value whose walk found some
 * (`Walked.undefinedFields`), so that its Schema can say whether it still
 * reads it: a key it requires (`Schema.Struct({ value: Schema.Any })` given
 * `{ value: undefined }`) would be missing on a process, and present on a
 * thread. What is not an array or a plain object is kept as it is.
 */
export const withoutUndefinedFields = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map(withoutUndefinedFields)
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key]
    if (field === undefined) continue
    // An own `__proto__` key (JSON.parse makes one) stays an own key, never the copy's prototype.
    Object.defineProperty(copy, key, {
      value: withoutUndefinedFields(field),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return copy
}

/** What a walk refused, with the path to it from the value, innermost key first. */
interface Refusal {
  readonly what: string
  readonly path: Array<string | number>
}

const refusal = (what: string): Refusal => ({ what, path: [] })

/** The buffers to move with each encoded value sent to a thread. */
const transfersByValue = new WeakMap<object, ReadonlyArray<ArrayBuffer>>()
let anyTransfers = false

/** Records the buffers to move when `encoded` is sent to a thread. */
export const recordTransfers = (encoded: unknown, transfers: ReadonlyArray<ArrayBuffer>): void => {
  if (typeof encoded !== "object" || encoded === null) return
  anyTransfers = true
  transfersByValue.set(encoded, transfers)
}

const none: ReadonlyArray<ArrayBuffer> = []

/**
 * The buffers to move with a frame: those recorded for the encoded values in
 * it (a payload, a reply), found within the frame's envelope (a few levels
 * deep). Empty, without looking, until a value with transfers was encoded.
 */
export const transferList = (frame: unknown): ReadonlyArray<ArrayBuffer> => {
  if (!anyTransfers) return none
  let found: Array<ArrayBuffer> | undefined
  const look = (value: unknown, depth: number): void => {
    if (typeof value !== "object" || value === null) return
    const transfers = transfersByValue.get(value)
    if (transfers !== undefined) {
      transfersByValue.delete(value)
      found ??= []
      for (const buffer of transfers) if (!found.includes(buffer)) found.push(buffer)
      return
    }
    if (depth === 0) return
    if (Array.isArray(value)) for (const item of value) look(item, depth - 1)
    else if (Object.getPrototypeOf(value) === Object.prototype) {
      for (const key in value) look((value as Record<string, unknown>)[key], depth - 1)
    }
  }
  look(frame, 5)
  return found ?? none
}
