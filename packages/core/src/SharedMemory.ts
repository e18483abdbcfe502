/**
 * Memory between a parent and its worker threads: typed arrays shared
 * without copying, and `ArrayBuffer`s moved instead of copied.
 *
 * Put these Schemas in a task's payload or success Schema. On the thread
 * backend (`NodeThread.layer`), a `SharedMemory.Int32` arrives as a view
 * of the same `SharedArrayBuffer` (writes on one side are seen by the other,
 * and `Atomics` works across them), and a `SharedMemory.Transferred` buffer
 * is moved: the receiver gets it, the sender's copy is detached (length 0).
 * On the process backend nothing can be shared, so a call with such a value
 * fails at once with an `ArgumentEncodeError` that says why, instead of the
 * value arriving as `{}`.
 *
 * Every other value follows the serialization contract (docs/ipc.md): plain
 * JSON data, the same on both backends.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { refuse } from "./internal/options.ts"
import { markShared, markTransferred } from "./internal/wire/contract.ts"

/**
 * The typed array constructors a shared array can be made of.
 *
 * @since 0.1.0
 * @category models
 */
export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor

/** The constructor every typed array kind extends (`%TypedArray%`). */
const TypedArray: unknown = Object.getPrototypeOf(Int8Array)

const isTypedArrayConstructor = (u: unknown): u is TypedArrayConstructor =>
  typeof u === "function" && Object.getPrototypeOf(u) === TypedArray

/**
 * A typed array whose buffer is a `SharedArrayBuffer`.
 *
 * @since 0.1.0
 * @category models
 */
export type Shared<C extends TypedArrayConstructor> = InstanceType<C> & { readonly buffer: SharedArrayBuffer }

const isSharedView =
  <C extends TypedArrayConstructor>(kind: C) =>
  (u: unknown): u is Shared<C> =>
    u instanceof kind && typeof SharedArrayBuffer === "function" && u.buffer instanceof SharedArrayBuffer

/**
 * The Schema of a typed array over a `SharedArrayBuffer`, shared (not
 * copied) with worker threads and refused on processes.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SharedMemory } from "@troupe/core"
 *
 * const Histogram = SharedMemory.sharedArray(Uint32Array)
 * const Payload = Schema.Struct({ bins: Histogram, from: Schema.Number })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const sharedArray = <C extends TypedArrayConstructor>(kind: C): Schema.declare<Shared<C>> => {
  const is = isSharedView(kind)
  return Schema.declare(is, {
    expected: `${kind.name} over a SharedArrayBuffer`,
    // The JSON codec leaves the view as it is (marked as shared): the contract lets it reach a thread only.
    toCodecJson: () =>
      Schema.link<Shared<C>>()(Schema.Any, {
        decode: SchemaGetter.transform((u) => u as Shared<C>),
        encode: SchemaGetter.transform((view: Shared<C>) => markShared(view))
      })
  })
}

/**
 * An `Int32Array` over a `SharedArrayBuffer`: the usual counter for `Atomics`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { SharedMemory, Task } from "@troupe/core"
 *
 * const Add = Task.make("Add", {
 *   payload: Schema.Struct({ total: SharedMemory.Int32, amount: Schema.Number }),
 *   success: Schema.Void,
 *   handler: ({ amount, total }) => Effect.sync(() => void Atomics.add(total, 0, amount))
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Int32: Schema.declare<Shared<Int32ArrayConstructor>> = sharedArray(globalThis.Int32Array)

/**
 * A `Uint8Array` over a `SharedArrayBuffer`.
 *
 * @example
 * ```ts
 * import { SharedMemory } from "@troupe/core"
 *
 * const bytes = SharedMemory.allocate(Uint8Array, 1024)
 * SharedMemory.Uint8 // its Schema
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Uint8: Schema.declare<Shared<Uint8ArrayConstructor>> = sharedArray(globalThis.Uint8Array)

/**
 * A `Float64Array` over a `SharedArrayBuffer`.
 *
 * @example
 * ```ts
 * import { SharedMemory } from "@troupe/core"
 *
 * const samples = SharedMemory.allocate(Float64Array, 1_000_000)
 * SharedMemory.Float64 // its Schema
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Float64: Schema.declare<Shared<Float64ArrayConstructor>> = sharedArray(globalThis.Float64Array)

/**
 * A new typed array of `length` zeroed elements over a new
 * `SharedArrayBuffer`. A `length` that is not an integer of 0 or more, or a
 * `kind` that is not a typed array constructor, throws an `InvalidOption`.
 *
 * @example
 * ```ts
 * import { SharedMemory } from "@troupe/core"
 *
 * const counters = SharedMemory.allocate(Int32Array, 4)
 * Atomics.add(counters, 0, 1)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const allocate = <C extends TypedArrayConstructor>(kind: C, length: number): Shared<C> => {
  if (!isTypedArrayConstructor(kind)) throw refuse("kind", "must be a typed array constructor (Int32Array, ...)", kind)
  if (!Number.isSafeInteger(length) || length < 0) throw refuse("length", "must be an integer of 0 or more", length)
  return new (kind as unknown as new (buffer: SharedArrayBuffer) => Shared<C>)(
    new SharedArrayBuffer(length * kind.BYTES_PER_ELEMENT)
  )
}

/**
 * The Schema of an `ArrayBuffer` moved (not copied) to or from a worker
 * thread: after the call is sent, the sender's buffer is detached (its
 * `byteLength` is 0), and the receiver owns the bytes. For large payloads
 * or results that the sender no longer needs. Refused on processes.
 *
 * A call that is retried, or sent again after its worker crashed, cannot
 * send a buffer that was already moved: it fails with `ArgumentEncodeError`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { SharedMemory, Task } from "@troupe/core"
 *
 * const Checksum = Task.make("Checksum", {
 *   payload: SharedMemory.Transferred,
 *   success: Schema.Number,
 *   handler: (buffer) => Effect.sync(() => new Uint8Array(buffer).reduce((sum, byte) => (sum + byte) % 65521, 0))
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Transferred: Schema.declare<ArrayBuffer> = Schema.declare(
  (u): u is ArrayBuffer => u instanceof ArrayBuffer,
  {
    expected: "ArrayBuffer",
    toCodecJson: () =>
      Schema.link<ArrayBuffer>()(Schema.Any, {
        decode: SchemaGetter.transform((u) => u as ArrayBuffer),
        encode: SchemaGetter.transform((buffer: ArrayBuffer) => markTransferred(buffer))
      })
  }
)
