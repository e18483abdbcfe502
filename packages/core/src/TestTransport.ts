/**
 * A `Transport` whose children live in memory, for tests.
 *
 * Each spawned "child" is a `ChildRunner` in the calling process, connected
 * to its parent by queues of structured-cloned frames instead of a channel:
 * a pool, a `Process`, an actor host or a supervision tree runs over it as
 * over `NodeProcess`, with no process, thread or real wait. Together with
 * `TestClock` (every pool and supervisor reads and waits on the `Clock` of
 * the context it was made in) a test of timeouts, retries, backoff, restart
 * intensity or shutdown order runs in microseconds and holds under any load.
 *
 * What only a real process shows (exit codes of a crash, signals, memory,
 * module isolation) stays in the tests of a platform such as
 * `@troupe/node`. Here a child "crashes" when the test says so
 * (`TestChild.exit`), and a task module is the one already loaded in the
 * test's own process: a task's handler may reach the test's state. List the
 * pool's tasks in its `tasks` option, so that its children start with their
 * modules counted as loaded; a task the pool meets later has its module
 * imported again by the child (the module cache answers, asynchronously).
 *
 * The runner of an in-memory child records the process-wide identity behind
 * `Process.current` and the link of `Channel` calls to a parent, as a real
 * child's runner does: with several children alive, the last one spawned
 * holds them.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChildRunner from "./ChildRunner.ts"
import { ExitStatus } from "./ExitStatus.ts"
import * as Transport from "./Transport.ts"

/**
 * One in-memory child, as a test sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestChild {
  /** Its made-up pid, counting up from 1 in spawn order. */
  readonly pid: number
  /** The options its parent spawned it with. */
  readonly options: Transport.SpawnOptions
  /** Every frame its parent sent it, in order. */
  readonly received: ReadonlyArray<unknown>
  /** Every signal its parent sent it, in order. */
  readonly signals: ReadonlyArray<Transport.Signal>
  /** How it ended, once it has. */
  readonly exitStatus: () => ExitStatus | undefined
  /** Ends the child now, as a crash or a kill would: its parent sees it exit with `status`. */
  readonly exit: (status: { readonly code: number | null; readonly signal: string | null }) => void
}

/**
 * An in-memory `Transport` and what it spawned.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestTransport {
  /** The transport to provide as `Transport.Transport`. */
  readonly transport: Transport.Transport["Service"]
  /** Every child spawned so far, in spawn order (those that have exited too). */
  readonly children: ReadonlyArray<TestChild>
  /** The children that have not exited. */
  readonly alive: () => ReadonlyArray<TestChild>
  /** Waits until `count` children have been spawned in all, and returns them in spawn order. */
  readonly spawned: (count: number) => Effect.Effect<ReadonlyArray<TestChild>>
}

/**
 * How the in-memory children behave.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Called as a child is spawned, before its runner starts: return an exit
   * status to have the child die at once, before it is ready (a crash loop at
   * start), or `undefined` to let it start.
   */
  readonly onSpawn?:
    | ((child: TestChild) => { readonly code: number | null; readonly signal: string | null } | undefined)
    | undefined
}

/** Runs `f` after the frames already in flight: in order, and never inside the call that sent a frame. */
const later = (f: () => void): void => {
  void Promise.resolve().then(f)
}

/**
 * Makes an in-memory transport. Provide its `transport` as
 * `Transport.Transport` (or use `layer` when the test needs no handle on the
 * children).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Pool, Task, TestTransport, Transport } from "@troupe/core"
 *
 * const Double = Task.make("docs/Double", {
 *   payload: Schema.Number,
 *   success: Schema.Number,
 *   handler: (n) => Effect.succeed(2 * n)
 * })
 *
 * const test = TestTransport.make()
 * const program = Effect.gen(function* () {
 *   const pool = yield* Pool.make({ size: 2, tasks: [Double] })
 *   const four = yield* pool.apply(Double, 2)
 *   const [first] = yield* test.spawned(1)
 *   first!.exit({ code: 1, signal: null }) // a crash: the pool starts another worker
 *   return four
 * }).pipe(Effect.scoped, Effect.provideService(Transport.Transport, test.transport))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): TestTransport => {
  const children: Array<TestChild> = []
  const waiters = new Set<() => void>()
  let nextPid = 1

  const spawn = (spawnOptions: Transport.SpawnOptions, onFrame: (frame: unknown) => void) =>
    Effect.gen(function* () {
      const pid = nextPid++
      const received: Array<unknown> = []
      const signals: Array<Transport.Signal> = []
      const exited = Deferred.makeUnsafe<ExitStatus>()
      let status: ExitStatus | undefined
      let terminate: (() => Promise<ChildRunner.Ending>) | undefined
      let terminating = false
      const exit = (ending: { readonly code: number | null; readonly signal: string | null }) => {
        if (status !== undefined) return
        status = new ExitStatus(ending)
        const final = status
        // Frames the child sent before it died are delivered first, as a platform does.
        later(() => Deferred.doneUnsafe(exited, Exit.succeed(final)))
      }
      const child: TestChild = {
        pid,
        options: spawnOptions,
        received,
        signals,
        exitStatus: () => status,
        exit
      }
      children.push(child)
      for (const wake of [...waiters]) wake()

      // Frames from the child reach the parent in order: those it sent before it died too, none after.
      const toParent = (frame: unknown): Promise<void> => {
        if (status !== undefined) return Promise.resolve()
        const copy = structuredClone(frame)
        later(() => onFrame(copy))
        return Promise.resolve()
      }
      const port: ChildRunner.ChildPort = {
        send: toParent,
        done: (code) => exit({ code, signal: null }),
        defer: later,
        rss: () => 0,
        pid,
        parentPid: 0,
        onTerminate: (stop) => {
          terminate = stop
        }
      }
      const refused = options.onSpawn?.(child)
      // The modules the parent preloads define tasks it holds, so they have run in this process: they count as
      // loaded (as in a bundled child), and a child imports only a module it is told of later.
      const runner =
        refused === undefined ? ChildRunner.make(port, { ...spawnOptions.runner, bundled: true }) : undefined
      if (refused !== undefined) exit(refused)
      else
        void runner!.warmUp.then(() => {
          if (status === undefined) void toParent({ _tag: "Ready", pid })
        })

      const sendUnsafe = (frame: unknown): void => {
        if (status !== undefined) return
        received.push(frame)
        const copy = structuredClone(frame)
        later(() => {
          if (status === undefined) runner!.onMessage(copy)
        })
      }
      const signal = (name: Transport.Signal) =>
        Effect.sync(() => {
          if (status !== undefined) return
          signals.push(name)
          // SIGTERM stops the runner gracefully (once: a second one changes nothing); it then dies of the signal,
          // or exits with 0 after stopping the actors it hosted. Anything else dies of the signal now.
          if (name === "SIGTERM" && terminate !== undefined) {
            if (terminating) return
            terminating = true
            void terminate().then((end) =>
              exit(end === "exit" ? { code: 0, signal: null } : { code: null, signal: "SIGTERM" })
            )
            return
          }
          exit({ code: null, signal: name })
        })
      // Closing the spawn's scope stops the child, as a platform does.
      yield* Effect.addFinalizer(() => signal("SIGKILL"))
      return {
        pid,
        modules: undefined,
        send: (frame: unknown) => Effect.sync(() => sendUnsafe(frame)),
        sendUnsafe,
        exited: Deferred.await(exited),
        exitStatus: () => status,
        signal,
        stdout: Stream.empty,
        stderr: Stream.empty
      } satisfies Transport.Connection
    })

  return {
    transport: Transport.Transport.of({ spawn }),
    children,
    alive: () => children.filter((child) => child.exitStatus() === undefined),
    spawned: (count) =>
      Effect.callback<ReadonlyArray<TestChild>>((resume) => {
        const check = () => {
          if (children.length < count) return
          waiters.delete(check)
          resume(Effect.succeed(children.slice(0, count)))
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      })
  }
}

/**
 * An in-memory `Transport`, for a test that needs no handle on its children.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool, TestTransport } from "@troupe/core"
 *
 * const program = Effect.scoped(Pool.make({ size: 2 })).pipe(Effect.provide(TestTransport.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport> = Layer.sync(Transport.Transport, () => make().transport)
