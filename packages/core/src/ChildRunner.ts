/**
 * What a child does with the frames its parent sends: the platform-neutral
 * half of a Troupe child.
 *
 * A platform (forked process, worker thread) wires its message channel to
 * `make`: every frame from the parent goes to `onMessage`; replies go out
 * through `port.send`. The runner imports the module named in a `Run` frame
 * (so its top-level `Task.make` calls register the tasks), finds the task by
 * name, runs it and replies. A module that cannot be imported, or a missing
 * task, is a `SpawnFailed` reply, never a task failure.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Codec from "./internal/codec.ts"
import { type ChildFrame, decodeParentFrame, type Reply, type Run } from "./internal/frame.ts"
import * as Task from "./Task.ts"

/**
 * The channel back to the parent, provided by the platform.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildPort {
  /** Sends a frame; the promise settles once the platform has written it. */
  readonly send: (frame: ChildFrame) => Promise<void>
  /** Called once a `once` runner has replied, with the exit code to use. */
  readonly done: (exitCode: number) => void
}

/**
 * A running child's message handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildRunner {
  readonly onMessage: (message: unknown) => void
}

const loaded = new Map<string, Promise<unknown>>()

const describe = (error: unknown): string =>
  error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error)

const load = (run: Run): Promise<Task.Any | Reply> => {
  let module = loaded.get(run.module)
  if (module === undefined) {
    module = import(run.module)
    loaded.set(run.module, module)
  }
  return module.then(
    () =>
      Task.find(run.task) ??
      Codec.spawnFailedReply(
        "TaskNotFound",
        `module ${run.module} defines no task named ${run.task}; define it at the top level, outside the main guard`
      ),
    (error) => Codec.spawnFailedReply("ModuleNotFound", `cannot import ${run.module}: ${describe(error)}`)
  )
}

const execute = async (run: Run): Promise<Reply> => {
  const task = await load(run)
  return Task.isTask(task) ? Effect.runPromise(Codec.runInChild(task, run.payload)) : task
}

/**
 * Creates the runner for one child. With `once`, the child serves a single
 * `Run` (the `Process` API) and then reports its exit code through
 * `port.done`: 0 when the task succeeded, 1 otherwise.
 *
 * @example
 * ```ts
 * import { ChildRunner } from "@troupe/core"
 *
 * declare const send: (frame: unknown) => Promise<void>
 * const runner = ChildRunner.make({ send, done: (code) => process.exit(code) }, { once: true })
 * process.on("message", runner.onMessage)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (port: ChildPort, options: { readonly once: boolean }): ChildRunner => ({
  onMessage: (message) => {
    const frame = decodeParentFrame(message)
    if (Exit.isFailure(frame)) return
    const run = frame.value
    void execute(run).then(async (reply) => {
      await port.send({ _tag: "Reply", id: run.id, reply })
      if (options.once) port.done(reply._tag === "Success" ? 0 : 1)
    })
  }
})
