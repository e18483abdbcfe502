/**
 * Calls from a child to its parent: services the parent hosts, typed by
 * Schemas, callable as Effects from any process below it.
 *
 * A service is a name and its methods, each with a payload, success and
 * error Schema (`make`), defined at the top level of a module that the
 * parent and the children share. The parent hosts it with `serve`, inside a
 * `Scope`, and gets a `Handle`; the handle travels to a child inside a task's
 * payload or an actor's message (its Schema is `handleSchema`), and code in
 * the child (a task handler, an actor behaviour) calls the service with
 * `call`. The payload is encoded by the method's Schema in the caller and
 * decoded in the parent; the outcome goes back the same way, so the caller
 * gets the method's success or its typed error.
 *
 * Interrupting the caller interrupts the work in the parent. A call that
 * cannot reach its service fails with a `ChannelError`: `ServiceClosed` once
 * the scope that served it closed (calls still running are interrupted
 * then), `ParentGone` when the channel to the parent is closed. A call from
 * the parent itself runs there, through the same codecs. A grandchild's call
 * goes up through its parent, which passes it on.
 *
 * Calls travel as `Call` / `CallReply` / `CallInterrupt` frames on the
 * channel a child already has; a child that never calls sends none of them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import * as Calls from "./internal/ipc/calls.ts"
import { nonEmptyString, refuse } from "./internal/options.ts"
import * as Codec from "./internal/wire/codec.ts"
import * as Endpoints from "./internal/wire/endpoints.ts"
import type { Reply } from "./internal/wire/frame.ts"
import * as ParentLink from "./internal/wire/parentLink.ts"
import type {
  ChannelError,
  PayloadTooLarge,
  RemoteDefect,
  ReplyValidationError,
  RequestValidationError,
  ResultEncodeError
} from "./TroupeError.ts"

const TypeId = "~@troupe/core/Channel" as const
const HandleTypeId = "~@troupe/core/Channel/Handle" as const

/**
 * One method of a service: its payload, success and error Schemas.
 *
 * @since 0.1.0
 * @category models
 */
export interface Method<P extends Schema.Top, S extends Schema.Top, E extends Schema.Top> {
  readonly payload: P
  readonly success: S
  readonly error: E
}

/**
 * A method as `make` takes it: each Schema may be left out (`payload` and
 * `success`: `Schema.Void`; `error`: `Schema.Never`).
 *
 * @since 0.1.0
 * @category models
 */
export interface MethodOptions {
  readonly payload?: Schema.Top
  readonly success?: Schema.Top
  readonly error?: Schema.Top
}

/**
 * The method a `MethodOptions` declares: its Schemas, with `Schema.Void` for
 * a missing payload or success and `Schema.Never` for a missing error.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodOf<O extends MethodOptions> = Method<
  O["payload"] extends Schema.Top ? O["payload"] : Schema.Void,
  O["success"] extends Schema.Top ? O["success"] : Schema.Void,
  O["error"] extends Schema.Top ? O["error"] : Schema.Never
>

/**
 * A service: a name and its methods.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service<Name extends string, Methods extends Record<string, Method<any, any, any>>> {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly methods: Methods
}

/**
 * Any service.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Service<string, Record<string, Method<any, any, any>>>

/**
 * The methods of a service.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Methods<S> = S extends Service<infer _N, infer M> ? M : never

/**
 * Defines a service from its methods. Throws an `InvalidOption` for an empty
 * name, or a method whose `payload`, `success` or `error` is not a Schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Channel } from "@troupe/core"
 *
 * export const Counter = Channel.make("Counter", {
 *   Add: { payload: Schema.Int, success: Schema.Int },
 *   Get: { success: Schema.Int }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string, const Options extends Record<string, MethodOptions>>(
  name: Name,
  methods: Options
): Service<Name, { readonly [K in keyof Options]: MethodOf<Options[K]> }> => {
  const invalidName = nonEmptyString("name", name)
  if (invalidName !== undefined) throw invalidName
  if (typeof methods !== "object" || methods === null) throw refuse("methods", "must be an object of methods", methods)
  const full: Record<string, Method<Schema.Top, Schema.Top, Schema.Top>> = {}
  for (const [method, options] of Object.entries(methods)) {
    for (const part of ["payload", "success", "error"] as const) {
      const schema: unknown = options?.[part]
      if (schema !== undefined && !Schema.isSchema(schema)) {
        throw refuse(`${method}.${part}`, "must be a Schema", schema)
      }
    }
    full[method] = {
      payload: options.payload ?? Schema.Void,
      success: options.success ?? Schema.Void,
      error: options.error ?? Schema.Never
    }
  }
  return { [TypeId]: TypeId, name, methods: full as any }
}

/**
 * What a parent serving a service gives: a handle to pass to children.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle<S extends Any> {
  readonly [HandleTypeId]: typeof HandleTypeId
  readonly service: S
  /** The id of the service in the process that serves it. */
  readonly endpoint: string
}

/**
 * The implementation of each method, in the parent.
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<S extends Any, R = never> = {
  readonly [K in keyof Methods<S>]: (
    payload: Methods<S>[K]["payload"]["Type"]
  ) => Effect.Effect<Methods<S>[K]["success"]["Type"], Methods<S>[K]["error"]["Type"], R>
}

/**
 * Everything a call can fail with, besides the method's own typed error.
 * `PayloadTooLarge`: a call from a pool's worker whose payload is over the
 * pool's `maxPayloadBytes` (it is not sent).
 *
 * @since 0.1.0
 * @category models
 */
export type CallError =
  | ChannelError
  | RequestValidationError
  | ReplyValidationError
  | ResultEncodeError
  | RemoteDefect
  | PayloadTooLarge

const callErrorTags: ReadonlySet<unknown> = new Set<CallError["_tag"]>([
  "ChannelError",
  "RequestValidationError",
  "ReplyValidationError",
  "ResultEncodeError",
  "RemoteDefect",
  "PayloadTooLarge"
])

/**
 * Whether `u` is one of the `CallError`s: for code that keeps a method's own
 * typed error and treats a failure of the call itself as a defect, without
 * naming every tag (a later version may add one).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Channel, IpcBarrier } from "@troupe/core"
 *
 * declare const barrier: IpcBarrier.IpcBarrier
 * // Effect<number, BrokenBarrier>: a failure of the channel itself is a defect.
 * const arrived = IpcBarrier.wait(barrier).pipe(Effect.catchIf(Channel.isCallError, Effect.die))
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isCallError = (u: unknown): u is CallError =>
  typeof u === "object" && u !== null && callErrorTags.has((u as { readonly _tag?: unknown })._tag)

const codables = new WeakMap<Method<any, any, any>, Codec.Codable>()

/** The codec view of a method, shared by the caller's and the server's side. */
const codableOf = (service: Any, method: string): Codec.Codable | undefined => {
  const definition = Object.hasOwn(service.methods, method) ? service.methods[method] : undefined
  if (definition === undefined) return undefined
  let codable = codables.get(definition)
  if (codable === undefined) {
    codable = {
      name: `${service.name}.${method}`,
      payloadSchema: definition.payload,
      successSchema: definition.success,
      errorSchema: definition.error
    }
    codables.set(definition, codable)
  }
  return codable
}

const unknownMethod = (service: string, method: string): Reply => ({
  _tag: "Defect",
  name: "UnknownMethod",
  message: `service ${service} has no method ${method}`
})

/**
 * Hosts a service in this process until the scope closes, and returns its
 * handle.
 *
 * **Details**
 *
 * Each call runs its handler with the services the scope had at `serve`
 * (`R`): at once when the effect it returns is already complete
 * (`Effect.succeed`, `Effect.fail`), else in a fiber of its own. When the
 * scope closes, calls still running are
 * interrupted (their callers get `ChannelError` `ServiceClosed`), and later
 * calls fail the same way.
 *
 * @example
 * ```ts
 * import { Effect, Ref, Schema } from "effect"
 * import { Channel } from "@troupe/core"
 *
 * const Counter = Channel.make("Counter", { Add: { payload: Schema.Int, success: Schema.Int } })
 *
 * const program = Effect.gen(function*() {
 *   const total = yield* Ref.make(0)
 *   const handle = yield* Channel.serve(Counter, { Add: (n) => Ref.updateAndGet(total, (t) => t + n) })
 *   return yield* Channel.call(handle, "Add", 2)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <S extends Any, R = never>(
  service: S,
  handlers: Handlers<S, R>
): Effect.Effect<Handle<S>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<R>()
    const implementations = handlers as Record<string, (payload: unknown) => Effect.Effect<unknown, unknown, R>>
    const calls = Calls.make(context, service.name)
    const endpoint = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Endpoints.register({
          name: service.name,
          keepsLate: true,
          handle: (method, payload, onLateReply) => {
            const codable = codableOf(service, method)
            const handler = Object.hasOwn(implementations, method) ? implementations[method] : undefined
            if (codable === undefined || handler === undefined) return Exit.succeed(unknownMethod(service.name, method))
            // A handler whose effect is already complete (Effect.succeed, Effect.fail) needs no fiber.
            const reply = Codec.replyNow(codable, payload, handler)
            return Effect.isEffect(reply) ? calls.run(reply, onLateReply) : Exit.succeed(reply)
          }
        })
      ),
      (endpoint) =>
        Effect.sync(() => {
          Endpoints.unregister(endpoint)
          calls.close()
        })
    )
    return { [HandleTypeId]: HandleTypeId, service, endpoint }
  })

/**
 * Calls a method of a service through its handle, from any process: the
 * parent that serves it, or a child (or grandchild) it was passed to.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Channel, Task } from "@troupe/core"
 *
 * const Counter = Channel.make("Counter", { Add: { payload: Schema.Int, success: Schema.Int } })
 *
 * export const AddTwice = Task.make("AddTwice", {
 *   payload: { counter: Channel.handleSchema(Counter) },
 *   success: Schema.Int,
 *   handler: ({ counter }) =>
 *     Channel.call(counter, "Add", 1).pipe(Effect.andThen(Channel.call(counter, "Add", 1)), Effect.orDie)
 * })
 * ```
 *
 * @since 0.1.0
 * @category calls
 */
export const call = <S extends Any, const K extends keyof Methods<S> & string>(
  handle: Handle<S>,
  method: K,
  payload: Methods<S>[K]["payload"]["Type"]
): Effect.Effect<Methods<S>[K]["success"]["Type"], Methods<S>[K]["error"]["Type"] | CallError> =>
  callKeepingLate(handle, method, payload, undefined) as any

/**
 * `call`, passing the method's success to `onLateSuccess` when it comes
 * after the caller was interrupted, instead of dropping it (an IPC queue
 * gives back the items of a take nobody will read).
 *
 * @internal
 */
export const callKeepingLate = (
  handle: Handle<Any>,
  method: string,
  payload: unknown,
  onLateSuccess: ((value: unknown) => void) | undefined
): Effect.Effect<unknown, unknown> =>
  Effect.suspend(() => {
    const codable = codableOf(handle.service, method)
    if (codable === undefined) return Effect.die(new Error(`service ${handle.service.name} has no method ${method}`))
    return ParentLink.callWith(handle.service.name, handle.endpoint, method, codable, payload, onLateSuccess)
  })

/**
 * The Schema of a handle to `service`, for task payloads, replies and actor
 * messages. It travels as the service's name and its endpoint's id.
 *
 * @since 0.1.0
 * @category schemas
 */
export const handleSchema = <S extends Any>(service: S): Schema.Codec<Handle<S>, HandleEncoded> =>
  Schema.Struct({ service: Schema.Literal(service.name), endpoint: Schema.String }).pipe(
    Schema.decodeTo(
      Schema.declare(
        (u): u is Handle<S> =>
          typeof u === "object" && u !== null && HandleTypeId in u && (u as Handle<S>).service.name === service.name
      ),
      SchemaTransformation.transform({
        decode: (encoded): Handle<S> => ({ [HandleTypeId]: HandleTypeId, service, endpoint: encoded.endpoint }),
        encode: (handle) => ({ service: service.name, endpoint: handle.endpoint })
      })
    )
  ) as any

/**
 * A handle as it travels.
 *
 * @since 0.1.0
 * @category schemas
 */
export const HandleEncoded = Schema.Struct({ service: Schema.String, endpoint: Schema.String })

/**
 * @since 0.1.0
 * @category schemas
 */
export type HandleEncoded = typeof HandleEncoded.Encoded
