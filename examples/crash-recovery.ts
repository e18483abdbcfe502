/**
 * Crash recovery under fire: a pool of four workers runs 2,000 tasks of about
 * 10 ms while a chaos fiber SIGKILLs a random worker every 100 ms. Each task
 * may be retried 3 times after a crash, so every one succeeds; with
 * `--retries 0` every task still settles, and each failure is a typed
 * `WorkerCrashed` naming the worker and the signal. A progress line counts the
 * settled tasks: rewritten in place on a terminal, a plain line a second
 * otherwise.
 *
 *     node examples/crash-recovery.ts
 *     node examples/crash-recovery.ts --retries 0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Pool, Progress, Task } from "@troupe/core"
import { NodePool, NodeProgress } from "@troupe/node"
import { Console, Effect, Exit, Fiber, Option, Schema } from "effect"

export const Work = Task.make("Work", {
  payload: Schema.Int,
  success: Schema.Int,
  handler: (n) => Effect.promise(() => new Promise<number>((resolve) => setTimeout(() => resolve(n), 10)))
})

const tasks = 2000
/** A task that has not settled by then counts as hung (none ever should). */
const hangBound = "60 seconds"

const flag = process.argv.indexOf("--retries")
const retries = flag >= 0 ? Number(process.argv[flag + 1]) : 3

/** A line of its own, also on a terminal where the progress line is being rewritten in place. */
const say = (text: string) => Console.log(process.stdout.isTTY ? `\r\x1b[2K${text}` : text)

/** Every 100 ms, pick one of the four workers at random and SIGKILL it (unless it is still starting). */
const chaos = Effect.gen(function* () {
  let kills = 0
  for (;;) {
    yield* Effect.sleep("100 millis")
    const { workers } = yield* Pool.Pool.use((pool) => pool.stats)
    const victim = workers[Math.floor(Math.random() * workers.length)]
    if (victim === undefined || victim.state !== "ready") continue
    try {
      process.kill(victim.pid, "SIGKILL")
      kills++
    } catch {
      // It died on its own first.
    }
    if (kills % 10 === 0) yield* say(`chaos: ${kills} workers killed so far`)
  }
})

if (import.meta.main) {
  const main = Effect.gen(function* () {
    yield* Console.log(`running ${tasks} tasks on 4 workers, retries=${retries}, a worker SIGKILLed every 100 ms`)
    const tracker = Progress.tracker(tasks, NodeProgress.terminal("tasks"))
    const chaosFiber = yield* Effect.forkChild(chaos)
    const outcomes = yield* Effect.forEach(
      Array.from({ length: tasks }, (_, i) => i),
      (i) =>
        Pool.apply(Work, i, { retries }).pipe(
          Effect.exit,
          Effect.timeoutOption(hangBound),
          Effect.tap((outcome) =>
            Effect.sync(() => tracker.item(Option.isNone(outcome) || Exit.isFailure(outcome.value)))
          )
        ),
      { concurrency: "unbounded" }
    )
    yield* Fiber.interrupt(chaosFiber)
    tracker.end()
    const settled = outcomes.flatMap((outcome) => (Option.isSome(outcome) ? [outcome.value] : []))
    const succeeded = settled.filter(Exit.isSuccess).length
    const failures = settled.filter(Exit.isFailure).map((exit) => {
      const error = Exit.findErrorOption(exit)
      return Option.isSome(error) ? (error.value as { _tag: string })._tag : "defect"
    })
    const byTag = new Map<string, number>()
    for (const tag of failures) byTag.set(tag, (byTag.get(tag) ?? 0) + 1)
    if (failures.length > 0) {
      yield* Console.log(`failures by type: ${[...byTag].map(([tag, count]) => `${tag}=${count}`).join(" ")}`)
    }
    const { restarts } = yield* Pool.Pool.use((pool) => pool.stats)
    yield* Console.log(
      `tasks=${tasks} succeeded=${succeeded} failed=${failures.length} hung=${tasks - settled.length} restarts=${restarts}`
    )
  })
  const pool = NodePool.layer({
    size: 4,
    // Chaos kills ten workers a second: allow that many restarts, or the pool would (rightly) give up,
    // and keep the backoff short: these crashes come from outside, not from a worker that cannot start.
    intensity: 1000,
    period: "10 seconds",
    backoff: { min: "5 millis", max: "50 millis", randomFactor: 0.2 }
  })
  NodeRuntime.runMain(main.pipe(Effect.provide(pool)))
}
