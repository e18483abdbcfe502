/**
 * The child's half of actors: builds actor instances and runs their
 * messages.
 *
 * Each instance handles its messages one at a time, in the order they came;
 * different instances run concurrently. Before an instance starts a message,
 * the replies of the messages already handled are sent: when the child dies,
 * the parent knows that at most the first unanswered message of each actor
 * may have run. A reply carries the actor's persisted state, if it has one,
 * so the parent can restore it after a crash.
 *
 * A handler's typed failure is a reply; under `onFailure: "restart"` the
 * instance is then rebuilt. A defect is a reply too, and then a crash: an
 * actor alone in its child (`exitWithActor`) ends the child with code 1 for
 * its supervisor to see; other instances are rebuilt in place. On SIGTERM
 * (`terminate`, called by the runner's handler once it has told the parent,
 * `Terminating`) every instance's scope closes, running its finalizers.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Ref from "effect/Ref"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type { ChildPort } from "../../ChildRunner.ts"
import * as ModuleLoader from "../child/moduleLoader.ts"
import * as ReplyBatcher from "../child/replyBatcher.ts"
import { sendSafely } from "../child/replyBatcher.ts"
import * as StartArgs from "../supervisor/startArgs.ts"
import * as Codec from "../wire/codec.ts"
import { type Activate, type ActorFrame, isActorCrash, type Message, type Reply } from "../wire/frame.ts"
import { ActorContext, type BehaviourShape, find, ignoredName, messageCodable } from "./actorRegistry.ts"

type Handlers = Record<string, (request: any) => Effect.Effect<unknown, unknown, ActorContext>>

interface Persisted {
  readonly ref: Ref.Ref<unknown>
  /** The state's encoding for the snapshot, or why it cannot be kept (`Codec.contractEncoder`). */
  readonly encode: (value: unknown) => Result.Result<unknown, string>
}

interface Instance {
  readonly ref: number
  readonly key: string
  readonly behaviour: BehaviourShape
  readonly exitWithActor: boolean
  readonly mailbox: Array<Message>
  scope: Scope.Closeable
  handlers: Handlers | undefined
  persisted: Persisted | undefined
  snapshot: unknown
  /** Its start arguments as the `Activate` frame carried them (encoded). */
  readonly startArgs: unknown
  busy: boolean
  /** Settles when the rebuild under way (after a defect, or a restart on failure) is done: none under way. */
  rebuilding: Promise<void> | undefined
  stopRequest: "normal" | "shutdown" | undefined
  /** What its build and handlers run with: `ActorContext`, the forwarding logger, its log annotations. */
  services: Context.Context<ActorContext>
}

export interface ActorServer {
  readonly onFrames: (frames: ReadonlyArray<ActorFrame>) => void
  /** Stops every instance, finalizers included. */
  readonly terminate: () => Promise<void>
}

const success: Reply = { _tag: "Success", value: null }

const defect = (name: string, message: string): Reply => ({ _tag: "Defect", name, message })

export const make = (
  port: ChildPort,
  loader: ModuleLoader.ModuleLoader,
  logger: Logger.Logger<unknown, void>,
  maxFrameBytes: number | undefined
): ActorServer => {
  const instances = new Map<number, Instance>()
  const loggers = new Set([logger])
  // A reply the channel refuses fails alone (`EncodeFailed`); the rest of its batch goes out. One refused even so
  // would leave its caller waiting: the host ends instead, and its actors' callers fail as for any crash. A reply
  // too big for a frame fails alone too (`EncodeFailed`, an ask's `ResultEncodeError`), and the host keeps its keys.
  const replies = ReplyBatcher.make({
    send: port.send,
    rss: () => undefined,
    compact: false,
    onLost: () => port.done(1),
    maxFrameBytes,
    oversized: ReplyBatcher.tooLargeToSend
  })
  let flushScheduled = false
  /** The messages whose handlers are running, across instances. */
  let running = 0

  const flush = (): Promise<void> => {
    flushScheduled = false
    return replies.flush() ?? Promise.resolve()
  }

  const reply = (id: number, value: Reply, snapshot?: unknown) => {
    replies.add(id, value, undefined, snapshot)
    if (!flushScheduled) {
      flushScheduled = true
      port.defer(() => void flush())
    }
  }

  /**
   * Closes an instance's scope, running its finalizers. Never rejects: a finalizer that fails or dies is
   * logged, and the other instances of this child go on (a rejection here would end the whole child).
   */
  const closeScope = (instance: Instance): Promise<void> =>
    Effect.runPromise(
      Scope.close(instance.scope, Exit.void).pipe(
        Effect.catchCause((cause) =>
          Effect.logError(`a finalizer of ${instance.behaviour.actor.name}(${instance.key}) failed`, cause).pipe(
            Effect.provideContext(instance.services)
          )
        )
      )
    ).catch(() => undefined)

  const makeContext = (
    instance: { key: string; behaviour: BehaviourShape; startArgs: unknown },
    self: () => Instance
  ) => ({
    name: instance.behaviour.actor.name,
    key: instance.key,
    exit: (reason: "normal" | "shutdown") =>
      Effect.sync(() => {
        self().stopRequest = reason
      }),
    healthy: Effect.sync(() => {
      void sendSafely(port.send, { _tag: "Healthy", ref: self().ref })
    }),
    persistedRef: <S extends Schema.Top>(schema: S, initial: S["Type"]) =>
      Effect.suspend((): Effect.Effect<Ref.Ref<S["Type"]>, Schema.SchemaError> => {
        const current = self()
        const codec = Schema.toCodecJson(schema) as unknown as Schema.Codec<unknown, unknown, never, never>
        let value: unknown = initial
        if (current.snapshot !== undefined) {
          // A stored state its Schema no longer reads fails the build: starting from `initial` would lose it,
          // as the next answered message overwrites the snapshot.
          const decoded = Schema.decodeUnknownExit(codec)(current.snapshot)
          if (Exit.isFailure(decoded)) return decoded as Exit.Exit<never, Schema.SchemaError>
          value = decoded.value
        }
        const ref = Ref.makeUnsafe(value)
        current.persisted = { ref, encode: Codec.contractEncoder(schema, "state") }
        return Effect.succeed(ref as Ref.Ref<S["Type"]>)
      }),
    startArgs: <S extends Schema.Top>(schema: S) => StartArgs.decode(schema, instance.startArgs)
  })

  /** Builds (or rebuilds) an instance's handlers in a fresh scope. */
  const build = (instance: Instance): Promise<Reply> => {
    instance.persisted = undefined
    instance.handlers = undefined
    return Effect.runPromise(
      instance.behaviour.build.pipe(
        Scope.provide(instance.scope),
        Effect.provideContext(instance.services),
        Effect.exit
      )
    ).then((exit): Reply => {
      if (Exit.isSuccess(exit)) {
        instance.handlers = exit.value
        return success
      }
      const ignore = exit.cause.reasons.some(
        (reason) => reason._tag === "Die" && (reason.defect as { name?: unknown } | null)?.name === ignoredName
      )
      if (ignore) return defect(ignoredName, `${instance.behaviour.actor.name}(${instance.key}) ignored its start`)
      // The cause with its stack (mapped back from a bundle), so that ChildStartFailed says where the build failed.
      const pretty = Cause.pretty(exit.cause)
      return defect(
        "ActorStartFailed",
        `${instance.behaviour.actor.name}(${instance.key}) failed to start: ${port.mapStack?.(pretty) ?? pretty}`
      )
    })
  }

  const rebuild = (instance: Instance): Promise<Reply> => {
    const rebuilt = closeScope(instance).then(() => {
      instance.scope = Scope.makeUnsafe()
      return build(instance)
    })
    const settled: Promise<void> = rebuilt.then(() => {
      if (instance.rebuilding === settled) instance.rebuilding = undefined
    })
    instance.rebuilding = settled
    return rebuilt
  }

  const activate = (frame: Activate) => {
    const started = (behaviour: BehaviourShape) =>
      // A turn later, as when the scope was made by a run of `Scope.make` (a message sent with the activation waits).
      Promise.resolve(Scope.makeUnsafe()).then((scope) => {
        const instance: Instance = {
          ref: frame.ref,
          key: frame.key,
          behaviour,
          exitWithActor: frame.exitWithActor === true,
          mailbox: [],
          scope,
          handlers: undefined,
          persisted: undefined,
          snapshot: frame.snapshot,
          startArgs: frame.args,
          busy: true,
          rebuilding: undefined,
          stopRequest: undefined,
          services: Context.empty() as Context.Context<ActorContext>
        }
        instance.services = Context.make(
          ActorContext,
          makeContext(instance, () => instance)
        ).pipe(
          Context.add(Logger.CurrentLoggers, loggers),
          Context.add(References.CurrentLogAnnotations, {
            "troupe.actor": behaviour.actor.name,
            "troupe.key": frame.key
          })
        )
        instances.set(frame.ref, instance)
        return build(instance).then((result) => {
          reply(frame.id, result)
          if (result._tag !== "Success") {
            instances.delete(frame.ref)
            for (const message of instance.mailbox) reply(message.id, result)
            return closeScope(instance)
          }
          instance.busy = false
          next(instance)
        })
      })
    const resolve = () => {
      const behaviour = find(frame.actor)
      if (behaviour === undefined) {
        return reply(
          frame.id,
          Codec.spawnFailedReply(
            "ActorNotFound",
            `module ${frame.module} defines no behaviour for actor ${frame.actor}; call Actor.behaviour at the top level`
          )
        )
      }
      void started(behaviour)
    }
    const loading = loader.load(frame.module)
    if (loading === true) return resolve()
    loading.then(resolve, (error) => reply(frame.id, ModuleLoader.failedReply(frame.module, error)))
  }

  const next = (instance: Instance) => {
    if (instance.busy) return
    const message = instance.mailbox.shift()
    if (message !== undefined) run(instance, message)
  }

  const run = (instance: Instance, message: Message) => {
    if (instance.handlers === undefined) return buildThenRun(instance, message)
    // Replies of handled messages go out first: if this one kills the child, the parent must not mistake them for it.
    void flush()
    instance.busy = true
    running++
    const codable = messageCodable(instance.behaviour.actor, message.tag)
    const handler = instance.handlers?.[message.tag]
    if (codable === undefined || handler === undefined) {
      void sendSafely(port.send, {
        _tag: "ProtocolError",
        message: `actor ${instance.behaviour.actor.name} has no message ${message.tag}`
      })
      return done(
        instance,
        message,
        defect("UnknownMessage", `actor ${instance.behaviour.actor.name} has no message ${message.tag}`)
      )
    }
    const address = { entityType: instance.behaviour.actor.name, entityId: instance.key }
    const fiber = Effect.runForkWith(instance.services)(
      Codec.runInChild(codable, message.payload, (payload) => {
        const result = handler({ payload, tag: message.tag, address }) as Effect.Effect<unknown, unknown, ActorContext>
        return (isWrapper(result) ? result.value : result) as Effect.Effect<unknown, unknown, never>
      })
    )
    fiber.addObserver((exit) => done(instance, message, Codec.replyOfExit(exit)))
  }

  const done = (instance: Instance, message: Message, result: Reply) => {
    running--
    let value = message.discard === true && result._tag === "Success" ? success : result
    let snapshot: unknown
    if (instance.persisted !== undefined) {
      const encoded = instance.persisted.encode(Ref.getUnsafe(instance.persisted.ref))
      if (Result.isSuccess(encoded)) snapshot = instance.snapshot = encoded.success
      else value = { _tag: "EncodeFailed", message: encoded.failure }
    }
    reply(message.id, value, snapshot)
    const stop = instance.stopRequest
    if (stop !== undefined) return stopInstance(instance, stop)
    if (isActorCrash(value)) {
      if (instance.exitWithActor) {
        instances.delete(instance.ref)
        void closeScope(instance)
          .then(() => flush())
          .then(() => port.done(1))
        return
      }
      return void rebuild(instance).then(() => afterRebuild(instance))
    }
    if (value._tag === "Failure" && instance.behaviour.onFailure === "restart") {
      return void rebuild(instance).then(() => afterRebuild(instance))
    }
    instance.busy = false
    next(instance)
    // No handler runs now: no reply can join this one, so it goes out at once rather than after the event loop
    // turns (as a pool worker's does): one event-loop turn less per answer when the child is idle.
    if (running === 0) void flush()
  }

  /**
   * The instance's last rebuild (after a defect, or a typed failure under `onFailure: "restart"`) failed, so it has
   * no handlers: this message builds it again first, as a first message starts an instance, and gets the start's
   * failure (`ActorStartFailed`) if it fails again. That failure is a crash of the instance: a supervised worker's
   * process then ends, as after its defect, and its supervisor restarts it.
   */
  const buildThenRun = (instance: Instance, message: Message) => {
    instance.busy = true
    void rebuild(instance).then((built) => {
      if (built._tag === "Success") return run(instance, message)
      if (instance.exitWithActor) {
        running++
        return done(instance, message, built)
      }
      reply(message.id, built)
      afterRebuild(instance)
      if (running === 0) void flush()
    })
  }

  const afterRebuild = (instance: Instance) => {
    instance.busy = false
    next(instance)
  }

  const stopInstance = (instance: Instance, reason: "normal" | "shutdown") => {
    instances.delete(instance.ref)
    for (const message of instance.mailbox) {
      reply(message.id, defect("ActorStopped", `actor ${instance.behaviour.actor.name} stopped (${reason})`))
    }
    void closeScope(instance)
      .then(() => flush())
      .then(() => sendSafely(port.send, { _tag: "Stopped", ref: instance.ref, reason }))
      .then(() => {
        if (instance.exitWithActor) port.done(0)
      })
  }

  const passivate = (id: number, ref: number) => {
    const instance = instances.get(ref)
    if (instance === undefined) return reply(id, success)
    instances.delete(ref)
    // The parent sees an instance being rebuilt as idle. It stops once its build is done: closing its scope now would
    // leave the build running on, beside the key's next instance (started as soon as this passivation is answered).
    void (instance.rebuilding ?? Promise.resolve()).then(() => closeScope(instance)).then(() => reply(id, success))
  }

  // The runner's SIGTERM handler calls it, after telling the parent (`Terminating`).
  const terminate = (): Promise<void> => {
    const all = [...instances.values()]
    instances.clear()
    return Promise.all(all.map(closeScope))
      .then(() => flush())
      .then(() => undefined)
  }

  return {
    terminate,
    onFrames: (frames) => {
      for (const frame of frames) {
        switch (frame._tag) {
          case "Activate":
            activate(frame)
            break
          case "Message": {
            const instance = instances.get(frame.ref)
            if (instance === undefined) {
              reply(frame.id, defect("ActorNotActive", `no actor instance ${frame.ref} in this child`))
              break
            }
            instance.mailbox.push(frame)
            next(instance)
            break
          }
          case "Passivate":
            passivate(frame.id, frame.ref)
            break
        }
      }
    }
  }
}

const WrapperTypeId = "~effect/rpc/Rpc/Wrapper"

const isWrapper = (u: unknown): u is { readonly value: unknown } =>
  typeof u === "object" && u !== null && WrapperTypeId in u && !Effect.isEffect(u)
