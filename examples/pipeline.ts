/**
 * A fault-tolerant pipeline under fire. A stream of 10,000 records
 * (`"user-<k>,<amount>"` over 50 users) is parsed on a pool of worker
 * processes, each record is then added to its user's `Account`, a keyed actor
 * living in one of two host processes, and a sink counts what comes out.
 * Meanwhile a chaos fiber SIGKILLs a random child process (a pool worker or
 * an actor host) 150 to 300 ms after the previous victim's replacement is up,
 * until the stream ends.
 *
 * Nothing is lost: a parse whose worker dies runs again on another worker
 * (the task's `retries`); a message whose host dies is sent again to the
 * restarted instance (the mailbox's `retries`), which starts from the
 * account's last persisted snapshot (`Actor.persistedRef`). A progress line
 * counts the records through the whole pipeline: rewritten in place on a
 * terminal, a plain line a second otherwise.
 *
 *     node examples/pipeline.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Actor, Keyed, Pool, Progress, Task } from "@troupe/core"
import { NodePool, NodeProcess, NodeProgress } from "@troupe/node"
import { Console, Effect, Exit, Fiber, Option, Ref, Result, Schema, Stream } from "effect"
import { Rpc } from "effect/rpc"

const Entry = Schema.Struct({ user: Schema.String, amount: Schema.Int })

/** Parses one CSV record. Pure, so safe to run again after a crash. */
export const Parse = Task.make("Parse", {
  payload: Schema.String,
  success: Entry,
  retries: 5,
  handler: (line) =>
    Effect.sync(() => {
      const [user = "", amount = ""] = line.split(",")
      return { user, amount: Number.parseInt(amount, 10) }
    })
})

const Balance = Schema.Struct({ entries: Schema.Int, total: Schema.Int })

export const Account = Actor.make("Account", [
  Rpc.make("Add", { payload: { amount: Schema.Int }, success: Balance }),
  Rpc.make("Get", { success: Balance })
])

export const AccountBehaviour = Actor.behaviour(
  Account,
  Effect.gen(function* () {
    // Restored from the last answered message after a crash of the host.
    const balance = yield* Actor.persistedRef(Balance, { entries: 0, total: 0 })
    return {
      Add: ({ payload }) =>
        Ref.updateAndGet(balance, ({ entries, total }) => ({ entries: entries + 1, total: total + payload.amount })),
      Get: () => Ref.get(balance)
    }
  })
)

const records = 10_000
const users = 50
const line = (i: number) => `user-${i % users},${(i * 7919) % 1000}`

if (import.meta.main) {
  const main = Effect.gen(function* () {
    const pool = yield* Pool.Pool
    const accounts = yield* Keyed.make(AccountBehaviour, {
      hosts: 2,
      mailbox: { retries: 3 },
      // Chaos kills a child every second or so, a host half the time: allow that many restarts (the default,
      // 4 within 10 s, would rightly give up).
      supervision: { intensity: 1000, period: "60 seconds" }
    })

    /**
     * Chaos: SIGKILL one child at random (a pool worker or an account host), 150 to 300 ms after every
     * child is up again, until the stream ends. Waiting for the last victim's replacement keeps one
     * child down at a time: on a slow or busy machine, where a replacement takes longer to start,
     * killing on a fixed clock would take down replacements before they can answer anything.
     */
    let kills = 0
    const livePids = Effect.gen(function* () {
      const { workers } = yield* pool.stats
      const hosts = yield* accounts.pids
      const ready = workers.filter((worker) => worker.state === "ready").map((worker) => worker.pid)
      const up = hosts.filter((pid) => pid !== null)
      return ready.length === workers.length && up.length === hosts.length ? [...ready, ...up] : undefined
    })
    const chaos = Effect.gen(function* () {
      for (;;) {
        while ((yield* livePids) === undefined) yield* Effect.sleep("10 millis")
        yield* Effect.sleep(150 + Math.floor(Math.random() * 150))
        const victims = (yield* livePids) ?? []
        const victim = victims[Math.floor(Math.random() * victims.length)]
        if (victim === undefined) continue
        try {
          process.kill(victim, "SIGKILL")
          kills++
        } catch {
          // It died on its own first.
        }
      }
    })

    const tracker = Progress.tracker(records, NodeProgress.terminal("records"))
    const failures = new Map<string, number>()
    /** A record that failed for good is counted by error and dropped, so that `lost` tells the truth. */
    const keep = <A>(exit: Exit.Exit<A, { readonly _tag: string }>): Result.Result<A, string> => {
      if (Exit.isSuccess(exit)) return Result.succeed(exit.value)
      const error = Exit.findErrorOption(exit)
      const tag = Option.isSome(error) ? error.value._tag : "defect"
      failures.set(tag, (failures.get(tag) ?? 0) + 1)
      tracker.item(true)
      return Result.fail(tag)
    }

    yield* Console.log(
      `${records} records over ${users} users; a random child SIGKILLed 150-300 ms after the last one is back`
    )
    const chaosFiber = yield* Effect.forkChild(chaos)
    const started = Date.now()
    const processed = yield* Stream.range(0, records - 1).pipe(
      Stream.map(line),
      Stream.mapEffect((record) => Effect.exit(pool.apply(Parse, record)), { concurrency: 16, unordered: true }),
      Stream.filterMap(keep),
      Stream.mapEffect(({ user, amount }) => Effect.exit(accounts.get(user).ask("Add", { amount })), {
        concurrency: 32,
        unordered: true
      }),
      Stream.filterMap(keep),
      Stream.tap(() => Effect.sync(() => tracker.item(false))),
      Stream.runCount
    )
    yield* Fiber.interrupt(chaosFiber)
    tracker.end()
    const seconds = ((Date.now() - started) / 1000).toFixed(1)

    // What the accounts hold. A message that ran in a process killed before its reply left is undone with
    // that process (the snapshot travels with the reply), so its retry applies it once: expect `records`.
    const balances = yield* Effect.forEach(
      Array.from({ length: users }, (_, k) => `user-${k}`),
      (user) => accounts.get(user).ask("Get", undefined),
      { concurrency: "unbounded" }
    )
    const entries = balances.reduce((sum, balance) => sum + balance.entries, 0)
    const poolRestarts = (yield* pool.stats).restarts
    const hostRestarts = ((yield* accounts.tree).children ?? []).reduce((sum, host) => sum + host.restarts, 0)

    if (failures.size > 0) {
      yield* Console.log(`failures by type: ${[...failures].map(([tag, count]) => `${tag}=${count}`).join(" ")}`)
    }
    yield* Console.log(
      `${kills} children killed in ${seconds} s; pool restarts=${poolRestarts} host restarts=${hostRestarts}; ` +
        `accounts hold ${entries} entries`
    )
    yield* Console.log(
      `records=${records} processed=${processed} lost=${records - processed} restarts=${poolRestarts + hostRestarts}`
    )
  })
  const pool = NodePool.layer({
    size: 2,
    tasks: [Parse],
    // Chaos kills a worker every second or two: allow that many restarts, or the pool would (rightly) give up,
    // and keep the backoff short: these crashes come from outside, not from a worker that cannot start.
    intensity: 1000,
    period: "60 seconds",
    backoff: { min: "5 millis", max: "50 millis", randomFactor: 0.2 }
  })
  NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide([pool, NodeProcess.layer])))
}
