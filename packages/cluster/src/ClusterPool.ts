/**
 * A pool of tasks across a cluster: the same `Task` definitions and the same
 * `Pool` service as on one machine, with the tasks run on the runners' local
 * process pools.
 *
 * A runner serves a group of tasks with `layerRunner`: an `effect/cluster`
 * entity (`TroupePool/<name>`) with one message per task, whose handler runs
 * the task on the runner's own `Pool` (`NodePool.layer`). A caller gets the
 * `Pool` service from `layer`: each call goes to one entity key, the keys
 * taken round robin, one per shard, so the calls spread over the runners as
 * the shards do. Moving a program's tasks to a cluster is a change of the
 * Layer that provides `Pool`.
 *
 * Calls travel as volatile messages, and a task without retries runs at most
 * once. When a runner dies (SIGKILL) with calls in flight, the cluster sends
 * them again to the shard's next owner once the failover is done; that
 * runner refuses every call made before it acquired the shard, because the
 * dead runner may have started it, with `WorkerCrashed` (`reason` says the
 * runner was lost). The caller thus gets a typed error within the failover
 * time (6 s shard locks with `ClusterNode.failover`), never a hang, and never
 * a second run. A call that a runner interrupts as it hands the call's
 * shard over (the runner stopping, or another joining) fails with
 * `WorkerCrashed` too. A task with retries (`Task.make`'s `retries`, the
 * call's or the pool's) is submitted again by the caller after a
 * `WorkerCrashed`, from a worker crash on a runner or from the loss of a
 * runner, as a local pool runs it again after its worker died.
 *
 * @since 0.1.0
 */
import type * as Pool from "@troupe/core/Pool"
import { Pool as PoolTag } from "@troupe/core/Pool"
import * as Task from "@troupe/core/Task"
import * as TroupeError from "@troupe/core/TroupeError"
import * as Cause from "effect/Cause"
import * as ClusterError from "effect/cluster/ClusterError"
import * as Entity from "effect/cluster/Entity"
import * as EntityId from "effect/cluster/EntityId"
import * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Rpc from "effect/rpc/Rpc"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Check from "./internal/options.ts"
import { poolRefusal, refusePayload } from "./internal/payload.ts"
import * as ShardClock from "./internal/shardClock.ts"
import { failWhenStopped } from "./internal/stoppedEntity.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The pool's name: runners and callers of one pool use the same (default `"pool"`). */
  readonly name?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions extends Options {
  /** Crash retries for tasks that set none (default 0), as `Pool.Options.retries`. */
  readonly retries?: number | undefined
  /** Calls one `map`, `mapSettled` or stream has in flight at once (default 64). */
  readonly concurrency?: number | undefined
  /**
   * The bound on a call that sets no `timeout` of its own, from the caller's
   * side, delivery included: `TaskTimeout` after it. Default: 5 minutes, or
   * the task's own `timeout` plus 1 minute when that is more. It is what
   * settles a call no runner serves (no runner up, or none serving this
   * pool's `name` or the task), which the cluster would otherwise keep
   * sending for ever. `Duration.infinity` for no bound.
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * The bound on a call when neither the call nor the pool sets one: 5 minutes,
 * or the task's own `timeout` (a run on the runner's pool) plus a minute for
 * the delivery and a failover.
 */
const defaultTimeout = (task: Task.Any): Duration.Duration =>
  task.timeout === undefined
    ? Duration.minutes(5)
    : Duration.max(Duration.minutes(5), Duration.sum(task.timeout, Duration.minutes(1)))

/** `PoolCallError`'s members, as the Schemas that carry them from a runner. */
const poolCallErrors = [
  TroupeError.InvalidOption,
  TroupeError.PayloadTooLarge,
  TroupeError.SpawnError,
  TroupeError.RemoteDefect,
  TroupeError.ResultEncodeError,
  TroupeError.ReplyValidationError,
  TroupeError.RequestValidationError,
  TroupeError.ArgumentEncodeError,
  TroupeError.WorkerCrashed,
  TroupeError.TaskTimeout,
  TroupeError.PoolShuttingDown,
  TroupeError.ShutdownError
] as const

/** The entity of a group of tasks: one message per task, its errors widened with `PoolCallError`. */
const entityOf = (name: string, tasks: ReadonlyArray<Task.Any>): Entity.Any => {
  const rpcs = tasks.map((task) =>
    Rpc.make(task.name, {
      payload: task.payloadSchema,
      success: task.successSchema,
      error: Schema.Union([task.errorSchema, ...poolCallErrors])
    })
  )
  return Entity.make(`TroupePool/${name}`, rpcs) as unknown as Entity.Any
}

const runnerLost = (task: string, requestId: bigint) =>
  new TroupeError.WorkerCrashed({
    task,
    taskId: Number(BigInt.asUintN(32, requestId)),
    pid: 0,
    exitCode: null,
    signal: null,
    attempts: 1,
    reason:
      "the runner it was sent to left the cluster before it replied (the task may have run there; it is not run twice)"
  })

/** A call its runner interrupted as it handed the call's shard over (a runner stopping, or one joining). */
const runnerStopped = (task: string) =>
  new TroupeError.WorkerCrashed({
    task,
    taskId: 0,
    pid: 0,
    exitCode: null,
    signal: null,
    attempts: 1,
    reason: "its runner stopped it while handing its shard over to another runner"
  })

type AnyHandler = (request: Entity.Request<any>) => Effect.Effect<unknown, unknown>

/**
 * Serves a group of tasks on this runner: calls from any node of the cluster
 * run on the runner's local `Pool`. Needs `Sharding` (`ClusterNode.layerRunner`)
 * and a `Pool` (`NodePool.layer`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { ClusterNode, ClusterPool } from "@troupe/cluster"
 * import { NodePool } from "@troupe/node"
 * import { Square } from "./tasks.ts"
 *
 * const Runner = ClusterPool.layerRunner([Square]).pipe(
 *   Layer.provide(NodePool.layer({ size: 4, tasks: [Square] })),
 *   Layer.provide(ClusterNode.layerRunner({ database: "postgres://127.0.0.1:5432/work", port: 34431 }))
 * )
 * Layer.launch(Runner).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRunner = (
  tasks: ReadonlyArray<Task.Any>,
  options: Options = {}
): Layer.Layer<never, TroupeError.InvalidOption, Sharding.Sharding | ShardingConfig.ShardingConfig | PoolTag> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const invalid = Check.optionsObject("options", options) ?? Check.optionalNonEmptyString("name", options?.name)
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const pool = yield* PoolTag
      const clock = yield* ShardClock.make
      const entity = entityOf(options.name ?? "pool", tasks)
      const build = Effect.gen(function* () {
        const address = yield* Entity.CurrentAddress
        const handlers: Record<string, AnyHandler> = {}
        for (const task of tasks) {
          handlers[task.name] = (request) =>
            clock.predates(address.shardId, request.requestId)
              ? Effect.fail(runnerLost(task.name, request.requestId))
              : pool.apply(task, request.payload, { retries: 0 })
        }
        return handlers
      })
      return entity.toLayer(build as never, {
        concurrency: "unbounded",
        mailboxCapacity: "unbounded"
      }) as Layer.Layer<never, never, Sharding.Sharding>
    })
  )

type AnyClient = Record<string, (payload: unknown) => Effect.Effect<unknown, unknown>>

/** The cluster's own failures, as the pool error a local pool gives for the same situation. */
const fromClusterError = (task: string, error: unknown): unknown => {
  if (error instanceof ClusterError.EntityNotAssignedToRunner) return new TroupeError.PoolShuttingDown()
  if (
    error instanceof ClusterError.MailboxFull ||
    error instanceof ClusterError.AlreadyProcessingMessage ||
    error instanceof ClusterError.PersistenceError
  ) {
    return new TroupeError.RemoteDefect({
      task,
      name: error._tag,
      message: `the cluster could not deliver the call: ${error._tag}`
    })
  }
  return error
}

/**
 * A defect of the cluster call itself (a task's own defect comes back as a typed `RemoteDefect`), as a
 * `RemoteDefect`. A runner that does not serve the task cannot read its call, and the engine fails it with a
 * `TypeError` about the task's (missing) `errorSchema`: the message says so.
 */
const deliveryDefect = (pool: string, task: string, defect: unknown): TroupeError.RemoteDefect => {
  const error = defect instanceof Error ? defect : new Error(String(defect))
  const unserved = error.message.includes("reading 'errorSchema'")
  return new TroupeError.RemoteDefect({
    task,
    name: error.name,
    message: unserved
      ? `a runner of cluster pool ${pool} does not serve task ${task}: give it to that runner's ClusterPool.layerRunner (${error.message})`
      : `the cluster could not deliver the call: ${error.message}`
  })
}

const emptyHistogram: Pool.HistogramSummary = { count: 0, p50: null, p99: null, max: null }

/**
 * The `Pool` service of a cluster's task group, from any node: `apply`,
 * `map`, streams, with the local pool's typed errors. `stats` counts this
 * caller's calls; `events` is empty (each runner's local pool has its own).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ClusterPool } from "@troupe/cluster"
 * import { Square } from "./tasks.ts"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* ClusterPool.make([Square])
 *   return yield* pool.map(Square, [1, 2, 3])
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  tasks: ReadonlyArray<Task.Any>,
  options: ClientOptions = {}
): Effect.Effect<
  Pool.Service,
  TroupeError.InvalidOption,
  Sharding.Sharding | ShardingConfig.ShardingConfig | Scope.Scope
> =>
  Effect.gen(function* () {
    const invalid =
      Check.optionsObject("options", options) ??
      Check.firstInvalid(
        Check.optionalNonEmptyString("name", options?.name),
        Check.positiveInteger("concurrency", options?.concurrency),
        Check.nonNegativeInteger("retries", options?.retries),
        Check.positiveDuration("timeout", options?.timeout)
      )
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const name = options.name ?? "pool"
    const entity = entityOf(name, tasks)
    const clientFor = (yield* entity.client) as unknown as (key: string) => AnyClient
    const sharding = yield* Sharding.Sharding
    const config = yield* ShardingConfig.ShardingConfig
    const concurrency = options.concurrency ?? 64
    // One key per shard, taken round robin: every shard, and so every runner by its share of shards, gets its turn.
    const keys: Array<string> = []
    const covered = new Set<number>()
    for (let index = 0; covered.size < config.shardsPerGroup && index < config.shardsPerGroup * 50; index++) {
      const key = String(index)
      const shard = sharding.getShardId(EntityId.make(key), "default").id
      if (!covered.has(shard)) {
        covered.add(shard)
        keys.push(key)
      }
    }
    let next = 0
    const clients = new Map<string, AnyClient>()
    const nextClient = () => {
      const key = keys[next++ % keys.length]!
      let client = clients.get(key)
      if (client === undefined) {
        client = clientFor(key)
        clients.set(key, client)
      }
      return client
    }
    const counts = { submitted: 0, started: 0, succeeded: 0, retried: 0, inFlight: 0 }
    const failed: Record<string, number> = {}

    /**
     * Why a payload cannot be sent for `task` (`RequestValidationError`, `ArgumentEncodeError`, `PayloadTooLarge`),
     * or `undefined`: what a local pool refuses is refused here.
     */
    const refusal = (task: Task.Any, payload: unknown) => {
      if (!tasks.includes(task)) {
        return new TroupeError.RequestValidationError({
          task: String(task?.name),
          message: `task ${task?.name} is not in cluster pool ${name}: give it to ClusterPool.make and layerRunner`
        })
      }
      const encoded = Task.encodePayload(task, payload)
      if (Exit.isFailure(encoded)) {
        const error = Cause.findErrorOption(encoded.cause)
        return Option.isSome(error)
          ? error.value
          : new TroupeError.RequestValidationError({ task: task.name, message: Cause.pretty(encoded.cause) })
      }
      const refused = refusePayload(encoded.value)
      return refused === undefined ? undefined : poolRefusal(task.name, refused)
    }

    /** A call whose payload was checked. */
    const submit = (task: Task.Any, payload: unknown, call: Pool.CallOptions | undefined) => {
      const retries = call?.retries ?? task.retries ?? options.retries ?? 0
      const attempt = (attempts: number): Effect.Effect<unknown, unknown> =>
        Effect.suspend(() => {
          counts.started++
          return nextClient()[task.name]!(payload).pipe(
            failWhenStopped(
              sharding,
              () => runnerStopped(task.name),
              () => new TroupeError.ShutdownError({ task: task.name, phase: "running" })
            ),
            Effect.catchDefect((defect) => Effect.fail(deliveryDefect(name, task.name, defect))),
            Effect.mapError((error) => fromClusterError(task.name, error)),
            Effect.catchIf(
              (error): error is TroupeError.WorkerCrashed =>
                error instanceof TroupeError.WorkerCrashed && attempts <= retries,
              () =>
                Effect.suspend(() => {
                  counts.retried++
                  return attempt(attempts + 1)
                })
            ),
            Effect.mapError((error) =>
              error instanceof TroupeError.WorkerCrashed ? new TroupeError.WorkerCrashed({ ...error, attempts }) : error
            )
          )
        })
      const timeout = Duration.fromInputUnsafe(call?.timeout ?? options.timeout ?? defaultTimeout(task))
      const bounded = !Duration.isFinite(timeout)
        ? attempt(1)
        : Effect.timeoutOrElse(attempt(1), {
            duration: timeout,
            orElse: () =>
              Effect.fail(new TroupeError.TaskTimeout({ task: task.name, timeoutMs: Duration.toMillis(timeout) }))
          })
      // A node shutting down sends nothing more: a call made then is refused as a closing local pool refuses it.
      const sendUnlessShutDown = Effect.flatMap(sharding.isShutdown, (down) =>
        down ? Effect.fail(new TroupeError.PoolShuttingDown()) : bounded
      )
      return Effect.suspend((): Effect.Effect<unknown, unknown> => {
        counts.submitted++
        counts.inFlight++
        return sendUnlessShutDown.pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              counts.inFlight--
              if (Exit.isSuccess(exit)) counts.succeeded++
              else {
                const error = Cause.findErrorOption(exit.cause)
                const tag = Option.isNone(error)
                  ? "Interrupted"
                  : String((error.value as { _tag?: string })._tag ?? "Error")
                failed[tag] = (failed[tag] ?? 0) + 1
              }
            })
          )
        )
      })
    }
    /** A call's own options, checked where they are given. */
    const invalidCall = (call: Pool.CallOptions | undefined) =>
      Check.optionsObject("options", call) ??
      Check.firstInvalid(
        Check.positiveDuration("timeout", call?.timeout),
        Check.nonNegativeInteger("retries", call?.retries)
      )
    const apply = <T extends Task.Any>(task: T, payload: Task.Payload<T>, call?: Pool.CallOptions): Pool.Result<T> =>
      Effect.suspend(() => {
        const refused = invalidCall(call) ?? refusal(task, payload)
        return refused === undefined ? submit(task, payload, call) : Effect.fail(refused)
      }) as Pool.Result<T>

    const read = <A>(task: Task.Any, items: Iterable<A>) =>
      Effect.try({
        try: () => Array.from(items),
        catch: (error) => new TroupeError.InputError({ task: task.name, message: String(error) })
      })
    /**
     * `items`, read and checked before anything is sent, each with its refusal: one payload its Schema refuses
     * (`RequestValidationError`) refuses the whole call, as locally.
     */
    const readAll = <A>(task: Task.Any, items: Iterable<A>) =>
      Effect.flatMap(read(task, items), (payloads) => {
        const refusals = payloads.map((payload) => refusal(task, payload))
        const invalid = refusals.find((refused) => refused?._tag === "RequestValidationError")
        return invalid === undefined
          ? Effect.succeed(payloads.map((payload, index) => ({ payload, refused: refusals[index] })))
          : Effect.fail(invalid as TroupeError.RequestValidationError)
      })
    const map: Pool.Service["map"] = (task, items, call) =>
      Effect.flatMap(readAll(task, items), (checked) => {
        // Fail-fast: bad call options, or an item that cannot be sent (`PayloadTooLarge`), fail the call before
        // any item is sent.
        const refused = invalidCall(call) ?? checked.find((item) => item.refused !== undefined)?.refused
        return refused === undefined
          ? Effect.forEach(checked, ({ payload }) => submit(task, payload, call), { concurrency })
          : Effect.fail(refused)
      }) as never
    const stream = <T extends Task.Any, E, R>(
      task: T,
      items: Stream.Stream<Task.Payload<T>, E, R> | Iterable<Task.Payload<T>>,
      call: Pool.StreamOptions | undefined,
      unordered: boolean
    ) =>
      (Stream.isStream(items) ? items : Stream.fromIterable(items)).pipe(
        Stream.mapEffect((payload) => apply(task, payload as Task.Payload<T>, call), {
          concurrency: call?.bufferSize ?? concurrency,
          unordered
        })
      )

    return {
      apply,
      offer: apply,
      map,
      starmap: map as Pool.Service["starmap"],
      mapSettled: (task, items, call) =>
        Effect.flatMap(readAll(task, items), (checked) => {
          // Bad call options fail every item, as a refused payload fails its own.
          const invalid = invalidCall(call)
          return Effect.forEach(
            checked,
            ({ payload, refused }) => {
              const failure = invalid ?? refused
              return Effect.exit(failure === undefined ? submit(task, payload, call) : Effect.fail(failure))
            },
            { concurrency }
          )
        }) as never,
      imap: (task, items, call) => stream(task, items, call, false),
      imapUnordered: (task, items, call) => stream(task, items, call, true),
      stats: Effect.sync(() => ({
        name,
        size: 0,
        workers: [],
        queued: 0,
        inFlight: counts.inFlight,
        restarts: 0,
        degraded: false,
        submitted: counts.submitted,
        started: counts.started,
        succeeded: counts.succeeded,
        failed: { ...failed },
        retried: counts.retried,
        workerStarts: 0,
        workerExits: {},
        runMs: emptyHistogram,
        waitMs: emptyHistogram
      })),
      ready: Effect.void,
      events: Stream.empty
    } satisfies Pool.Service
  })

/**
 * Provides the `Pool` service from a cluster: the Layer that replaces
 * `NodePool.layer` when a program's tasks move to a cluster. Needs `Sharding`
 * (`ClusterNode.layerClient` or a runner's layer).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Pool } from "@troupe/core"
 * import { ClusterNode, ClusterPool } from "@troupe/cluster"
 * import { Square } from "./tasks.ts"
 *
 * const PoolOnCluster = ClusterPool.layer([Square], { retries: 1 }).pipe(
 *   Layer.provide(ClusterNode.layerClient({ database: "postgres://127.0.0.1:5432/work" }))
 * )
 * const program = Pool.map(Square, [1, 2, 3]).pipe(Effect.provide(PoolOnCluster))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  tasks: ReadonlyArray<Task.Any>,
  options?: ClientOptions
): Layer.Layer<PoolTag, TroupeError.InvalidOption, Sharding.Sharding | ShardingConfig.ShardingConfig> =>
  Layer.effect(PoolTag, make(tasks, options))
