/**
 * The shapes of a pool's calls, over its one `Submission`: one task
 * (`apply`, `offer`) in the caller's fiber; many (`map`, `mapSettled`,
 * `starmap`) as one callback that counts the items, reports progress and
 * may finish early; streams (`imap`, `imapUnordered`) built from those. None
 * of it is pool state: `Pool.make` assembles the pool (its dispatcher,
 * slots, supervision, shutdown) and takes these shapes from here.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import type { MapOptions, OfferOptions, Service, StreamOptions } from "../../Pool.ts"
import * as Progress from "../../Progress.ts"
import type * as Task from "../../Task.ts"
import { InputError } from "../../TroupeError.ts"
import { describeValue } from "../options.ts"
import { traceOf } from "../telemetry.ts"
import { ServingChild } from "../wire/servingChild.ts"
import { millis, validateStream } from "./poolOptions.ts"
import type { Submission } from "./submission.ts"

export interface CallsOptions {
  readonly submission: Submission
  /** Whether calls made inside a span are traced (`Options.tracing`). */
  readonly tracing: boolean
  /** The pool's size: the default chunk of an array and buffer of a stream. */
  readonly size: number
  /** The pool clock's monotonic milliseconds: progress reports. */
  readonly monotonicMillis: () => number
}

export type Calls = Pick<Service, "apply" | "offer" | "map" | "mapSettled" | "starmap" | "imap" | "imapUnordered">

/**
 * Starts one call (`apply` in "wait" mode, `offer` in "offer" mode) from
 * inside an `Effect.callback` registration, or with no fiber at all
 * (`Pool.runCallback`): `resume` gets the call's exit once. `fiber` is the
 * caller's, for its span and whether it serves a child's call. Returns what
 * cancels the call (`undefined` once it is refused); see `onInterrupt`.
 */
export type StartOne = (
  task: Task.Any,
  payload: unknown,
  call: OfferOptions | undefined,
  mode: "wait" | "offer",
  fiber: Fiber.Fiber<unknown, unknown> | undefined,
  resume: (exit: Exit.Exit<any, any>) => void
) => (() => Effect.Effect<void>) | undefined

/** What an `Effect.callback` registration returns for a call `StartOne` started: its cancel, run on interruption. */
export const onInterrupt = (cancel: (() => Effect.Effect<void>) | undefined): Effect.Effect<void> | undefined =>
  cancel === undefined ? undefined : Effect.suspend(cancel)

/** What `settle` of `submitAll` gets for each item: it may finish the call early. */
type Settle<A> = (
  results: Array<unknown>,
  index: number,
  exit: Exit.Exit<unknown, unknown>,
  cancelRest: Effect.Effect<void>
) => Effect.Effect<A, any> | undefined

export const makeCalls = (options: CallsOptions): { readonly calls: Calls; readonly startOne: StartOne } => {
  const { submission, tracing, size, monotonicMillis } = options

  const startOne: StartOne = (task, payload, call, mode, fiber, resume) => {
    const trace = tracing && fiber !== undefined ? traceOf(fiber.context) : undefined
    const admissionMs = mode === "wait" ? undefined : (millis(call?.wait) ?? 0)
    const servingChild = fiber?.getRef(ServingChild) === true
    return submission.one(task, payload, call, admissionMs, trace, servingChild, resume)
  }

  // One primitive per call: the registration runs inside the caller's run loop, where `Fiber.getCurrent` is the
  // caller (no `withFiber` step to reach it).
  const single =
    <T extends Task.Any>(mode: "wait" | "offer") =>
    (task: T, payload: Task.Payload<T>, call?: OfferOptions): Effect.Effect<Task.Success<T>, any> =>
      Effect.callback<Task.Success<T>, any>((resume) =>
        onInterrupt(startOne(task, payload, call, mode, Fiber.getCurrent(), resume))
      )

  /** Runs `task` on every item; `settle` sees each item's outcome and may finish the call early. */
  const submitAll = <A>(
    task: Task.Any,
    items: Iterable<unknown>,
    call: MapOptions | undefined,
    settle: Settle<A>
  ): Effect.Effect<A, any> =>
    Effect.suspend(() => {
      // Read when the call runs: an iterable that throws fails the call, and nothing is sent.
      const read = readAll(task, items)
      return Exit.isFailure(read)
        ? (read as Exit.Exit<never, InputError>)
        : submitRead<A>(task, read.value, call, settle)
    })

  const submitRead = <A>(
    task: Task.Any,
    payloads: Array<unknown>,
    call: MapOptions | undefined,
    settle: Settle<A>
  ): Effect.Effect<A, any> => {
    const results: Array<unknown> = new Array(payloads.length)
    // A report callback that throws fails the call with its error as a defect (and is not called again): it runs
    // in the reply path, where an error would stop the replies of other calls, or end the host process.
    let progressDefect: { readonly defect: unknown } | undefined
    const onProgress = call?.onProgress
    const progress =
      onProgress === undefined
        ? undefined
        : Progress.tracker(
            payloads.length,
            (report) => {
              if (progressDefect !== undefined) return
              try {
                onProgress(report)
              } catch (defect) {
                progressDefect = { defect }
              }
            },
            undefined,
            monotonicMillis
          )
    if (payloads.length === 0) {
      // Nothing to queue, but a pool that refuses calls refuses this one too (as Python's "Pool not running").
      const refused = submission.refusal()
      if (refused !== undefined) return Effect.fail(refused)
      progress?.end()
      return progressDefect === undefined ? Effect.succeed(results as A) : Effect.die(progressDefect.defect)
    }
    let remaining = payloads.length
    const chunkSize = call?.chunkSize ?? Math.max(1, Math.ceil(payloads.length / (4 * size)))
    return Effect.withFiber((fiber) => {
      const trace = tracing ? traceOf(fiber.context) : undefined
      const servingChild = fiber.getRef(ServingChild)
      return Effect.callback<A, any>((resume) => {
        let finished = false
        const finish = (result: Effect.Effect<A, any>) => {
          if (finished) return
          finished = true
          resume(result)
        }
        const submitted = submission.many(
          task,
          payloads,
          chunkSize,
          call,
          trace,
          servingChild,
          (index, exit, cancelRest) => {
            remaining--
            progress?.item(Exit.isFailure(exit))
            const early =
              progressDefect === undefined
                ? settle(results, index, exit, cancelRest)
                : cancelRest.pipe(Effect.andThen(Effect.die(progressDefect.defect)))
            if (early !== undefined) {
              progress?.end()
              finish(early)
            } else if (remaining === 0) {
              progress?.end()
              finish(progressDefect === undefined ? Effect.succeed(results as A) : Effect.die(progressDefect.defect))
            }
          }
        )
        if (Exit.isExit(submitted)) return void resume(submitted)
        return submitted
      })
    })
  }

  const map: Service["map"] = (task, items, call) =>
    submitAll<Array<any>>(task, items, call, (results, index, exit, cancelRest) => {
      if (Exit.isFailure(exit)) return cancelRest.pipe(Effect.andThen(exit as Exit.Exit<never, unknown>))
      results[index] = exit.value
      return undefined
    })

  const mapSettled: Service["mapSettled"] = (task, items, call) =>
    submitAll<Array<any>>(task, items, call, (results, index, exit) => {
      results[index] = exit
      return undefined
    }).pipe(
      Effect.catch((error) =>
        error._tag === "RequestValidationError" ||
        error._tag === "InputError" ||
        error._tag === "InvalidOption" ||
        error._tag === "PoolShuttingDown" ||
        error._tag === "RestartIntensityExceeded"
          ? Effect.fail(error)
          : Effect.die(error)
      )
    )

  const stream =
    (unordered: boolean) =>
    <T extends Task.Any, E = never, R = never>(
      task: T,
      input: Stream.Stream<Task.Payload<T>, E, R> | Iterable<Task.Payload<T>>,
      call?: StreamOptions
    ) => {
      // An unchecked `bufferSize` became the stream's concurrency: NaN sent nothing and waited for ever.
      const invalid = validateStream(call)
      if (invalid !== undefined) return Stream.fail(invalid)
      const items: Stream.Stream<Task.Payload<T>, E | InputError, R> = Stream.isStream(input)
        ? (input as Stream.Stream<Task.Payload<T>, E, R>)
        : readOneByOne(task, input)
      const bufferSize = call?.bufferSize ?? 2 * size
      const chunkSize = call?.chunkSize ?? 1
      const onProgress = call?.onProgress
      const inner = onProgress === undefined ? call : { ...call, onProgress: undefined }
      /**
       * Runs `f` on each input, `concurrency` at a time. In completion order the first failure ends the stream as
       * it comes; in input order it ends it at its own place, after every earlier result (as Python's `imap`
       * raises at the failing index): each outcome is settled first, then read in order.
       */
      const mapEach = <A, B, E2, R2, E3, R3>(
        input: Stream.Stream<A, E2, R2>,
        f: (a: A) => Effect.Effect<B, E3, R3>,
        concurrency: number
      ): Stream.Stream<B, E2 | E3, R2 | R3> =>
        unordered
          ? Stream.mapEffect(input, f, { concurrency, unordered })
          : Stream.mapEffect(input, (a) => Effect.exit(f(a)), { concurrency }).pipe(Stream.mapEffect((exit) => exit))
      const run = (progress: Progress.Tracker | undefined) => {
        const one = (payload: Task.Payload<T>) => {
          const result = single<T>("wait")(task, payload, inner)
          return progress === undefined
            ? result
            : Effect.onExit(result, (exit) => Effect.sync(() => progress.item(Exit.isFailure(exit))))
        }
        const chunk = (payloads: ReadonlyArray<Task.Payload<T>>) => {
          const result = map(task, payloads, { ...inner, chunkSize })
          return progress === undefined
            ? result
            : Effect.onExit(result, (exit) =>
                Effect.sync(() => {
                  for (let i = 0; i < payloads.length; i++) progress.item(Exit.isFailure(exit))
                })
              )
        }
        return chunkSize === 1
          ? mapEach(items, one, bufferSize)
          : items.pipe(
              Stream.grouped(chunkSize),
              (groups) => mapEach(groups, chunk, Math.max(1, Math.ceil(bufferSize / chunkSize))),
              Stream.flattenIterable
            )
      }
      if (onProgress === undefined) return run(undefined)
      return Stream.suspend(() => {
        const progress = Progress.tracker(call?.total, onProgress, undefined, monotonicMillis)
        return Stream.ensuring(
          run(progress),
          Effect.sync(() => progress.end())
        )
      })
    }

  return {
    calls: {
      apply: single("wait"),
      offer: single("offer"),
      map,
      mapSettled,
      starmap: map,
      imap: stream(false),
      imapUnordered: stream(true)
    },
    startOne
  }
}

/** What a thrown value says, without trusting it (its getters or `toString` may throw too). */
const describeThrown = (error: unknown): string => {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } catch {
    return "a value that cannot be described"
  }
}

const inputError = (task: Task.Any, error: unknown) =>
  new InputError({ task: task.name, message: `reading the items threw ${describeThrown(error)}` })

/** Every item of `items`, read now; a throwing iterable, or something not iterable, is an `InputError`. */
const readAll = (task: Task.Any, items: Iterable<unknown>): Exit.Exit<Array<unknown>, InputError> => {
  // `Array.from` would read a number, or any object without an iterator, as no items at all.
  if (typeof (items as { [Symbol.iterator]?: unknown } | null | undefined)?.[Symbol.iterator] !== "function") {
    return Exit.fail(
      new InputError({ task: task.name, message: `the items are not iterable: ${describeValue(items)}` })
    )
  }
  try {
    return Exit.succeed(Array.from(items))
  } catch (error) {
    return Exit.fail(inputError(task, error))
  }
}

/** The items of an iterable as a stream that reads one item per pull, from when it runs; a throw is an `InputError`. */
const readOneByOne = <A>(task: Task.Any, items: Iterable<A>): Stream.Stream<A, InputError> =>
  Stream.suspend(() => {
    let iterator: Iterator<A> | undefined
    return Stream.unfold(undefined, () =>
      Effect.try({
        try: () => {
          iterator ??= items[Symbol.iterator]()
          const next = iterator.next()
          return next.done === true ? undefined : ([next.value, undefined] as const)
        },
        catch: (error) => inputError(task, error)
      })
    )
  })
