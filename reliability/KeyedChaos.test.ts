/**
 * Chaos for keyed actors: 40 keys on 4 hosts, each key journaling its
 * messages in order, while a host is SIGKILLed every 50-200 ms. With
 * `Actor.persistedRef`, every message acknowledged before a crash is still
 * in the journal afterwards, exactly once and in order; every ask settles
 * within its bound, and each failure is a typed `ActorDied` (or `AskTimeout`,
 * the bound itself). The same run on
 * a journal kept in a plain `Ref` loses acknowledged messages: the control
 * that shows the kills hit.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Actor, Keyed } from "@troupe/core"
import { NodeProcess } from "@troupe/node"
import { Effect, Exit, Fiber, Option } from "effect"
import { percentile } from "./chaos.ts"
import { type Journal, JournalBehaviour, type Volatile, VolatileBehaviour } from "./fixtures/actors.ts"
import { report } from "./report.ts"

const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `account-${i}`)
const askTimeoutMs = 5000
const slackMs = 2000

const tagOf = (exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Exit.findErrorOption(exit)
  return Option.isSome(error) ? String((error.value as { _tag?: unknown })._tag) : "defect"
}

interface KeyRun {
  readonly acknowledged: Array<number>
  /** Acknowledged before an ask on this key failed: these had to survive a restart. */
  readonly acknowledgedBeforeCrash: Array<number>
  readonly journal: ReadonlyArray<number>
}

/**
 * Each key sends at least `messagesPerKey` messages, a few ms apart, and goes on until the chaos has killed
 * `minKills` hosts (at most 2,000 messages a key): a faster pool must not finish before the chaos bites.
 */
const runKeyed = <A extends typeof Journal | typeof Volatile>(
  behaviour: Actor.Behaviour<A>,
  keys: ReadonlyArray<string>,
  messagesPerKey: number,
  minKills: number
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const group = yield* Keyed.make(behaviour, {
        hosts: 4,
        mailbox: { askTimeout: askTimeoutMs },
        supervision: {
          intensity: 10_000,
          period: "10 seconds",
          backoff: { min: "5 millis", max: "100 millis", randomFactor: 0.2 }
        }
      })
      let kills = 0
      const chaos = yield* Effect.forkChild(
        Effect.forever(
          Effect.gen(function* () {
            yield* Effect.sleep(50 + Math.floor(Math.random() * 151))
            const pids = (yield* group.pids).filter((pid): pid is number => pid !== null)
            const victim = pids[Math.floor(Math.random() * pids.length)]
            if (victim === undefined) return
            try {
              process.kill(victim, "SIGKILL")
              kills++
            } catch {
              // Gone already.
            }
          })
        )
      )
      const durations: Array<number> = []
      const byTag = new Map<string, number>()
      const runs = yield* Effect.forEach(
        keys,
        (key) =>
          Effect.gen(function* () {
            const ref = group.get(key) as unknown as Actor.ActorRef<typeof Journal>
            const acknowledged: Array<number> = []
            let acknowledgedBeforeCrash: Array<number> = []
            for (let seq = 0; seq < 2000 && (seq < messagesPerKey || kills < minKills); seq++) {
              yield* Effect.sleep(5)
              const started = performance.now()
              const exit = yield* Effect.exit(ref.ask("Record", { seq }))
              durations.push(performance.now() - started)
              const tag = tagOf(exit)
              byTag.set(tag, (byTag.get(tag) ?? 0) + 1)
              if (tag === "ok") acknowledged.push(seq)
              else acknowledgedBeforeCrash = [...acknowledged]
            }
            return { key, ref, acknowledged, acknowledgedBeforeCrash }
          }),
        { concurrency: "unbounded" }
      )
      yield* Fiber.interrupt(chaos)
      const results: Array<KeyRun> = []
      for (const run of runs) {
        // A kill sent just before the chaos stopped can land while a journal is read: that read fails with
        // ActorDied (its host died holding it), and the next one goes to the restarted host.
        const journal = yield* run.ref
          .ask("Journal", undefined)
          .pipe(Effect.retry({ while: (error) => error._tag === "ActorDied", times: 3 }))
        results.push({ acknowledged: run.acknowledged, acknowledgedBeforeCrash: run.acknowledgedBeforeCrash, journal })
      }
      return { results, kills, durations, byTag }
    })
  ).pipe(Effect.provide(NodeProcess.layer))

describe("keyed actors under chaos: a host SIGKILLed every 50-200 ms", () => {
  it.live(
    "with persistedRef, every acknowledged message survives, once and in order; every ask settles in its bound",
    () =>
      Effect.gen(function* () {
        const keys = keysOf(40)
        const messagesPerKey = 60
        const run = yield* runKeyed(JournalBehaviour, keys, messagesPerKey, 12)
        const max = Math.max(...run.durations)
        const failures = [...run.byTag].filter(([tag]) => tag !== "ok")
        const restoredKeys = run.results.filter((r) => r.acknowledgedBeforeCrash.length > 0).length
        report("keyed chaos, persistedRef", {
          keys: keys.length,
          messages: [...run.byTag.values()].reduce((sum, count) => sum + count, 0),
          acknowledged: run.byTag.get("ok") ?? 0,
          byTag: Object.fromEntries(failures),
          kills: run.kills,
          keysRestoredAfterACrash: restoredKeys,
          p50Ms: Math.round(percentile(run.durations, 50)),
          p99Ms: Math.round(percentile(run.durations, 99)),
          maxMs: Math.round(max),
          boundMs: askTimeoutMs + slackMs
        })
        expect(run.kills).toBeGreaterThan(10)
        expect(failures.length).toBeGreaterThan(0)
        // A message its actor's process died holding fails with ActorDied; one that waited out its bound while
        // the host kept restarting fails with AskTimeout. Nothing else.
        for (const [tag] of failures) expect(["ActorDied", "AskTimeout"]).toContain(tag)
        expect(restoredKeys).toBeGreaterThan(0)
        for (const { acknowledged, journal } of run.results) {
          // Nothing acknowledged is lost, nothing is applied twice, and the order is the mailbox order.
          expect(journal.filter((seq) => acknowledged.includes(seq))).toEqual(acknowledged)
          expect(new Set(journal).size).toBe(journal.length)
          expect([...journal].sort((a, b) => a - b)).toEqual(journal)
        }
        expect(max).toBeLessThanOrEqual(askTimeoutMs + slackMs)
      }),
    120_000
  )

  it.live(
    "the control: the same run with a plain Ref loses acknowledged messages",
    () =>
      Effect.gen(function* () {
        const run = yield* runKeyed(VolatileBehaviour, keysOf(20), 30, 4)
        const lost = run.results.reduce(
          (sum, { acknowledged, journal }) => sum + acknowledged.filter((seq) => !journal.includes(seq)).length,
          0
        )
        report("keyed chaos, plain Ref (control)", { kills: run.kills, acknowledgedLost: lost })
        expect(run.kills).toBeGreaterThan(0)
        expect(lost).toBeGreaterThan(0)
      }),
    120_000
  )
})
