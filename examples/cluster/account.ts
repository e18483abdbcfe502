/**
 * The actor of the cluster example: a bank account. One definition serves
 * both layouts: on one machine (`KeyedRefs.layerLocal`) and on a cluster
 * (`ClusterRunner` on the runners, `ClusterClient` on the callers).
 *
 * `Deposit` is annotated `ClusterSchema.Persisted`: on a cluster it is
 * stored in PostgreSQL before it is delivered, so it survives its runner's
 * death. The balance is an `Actor.persistedRef`: on a cluster it is stored in
 * PostgreSQL after each deposit, so it follows the account to its next runner.
 *
 * When `TROUPE_ACTIVATIONS` names a file, every start and stop of an
 * instance is appended to it (the demo counts duplicate activations).
 */
import { appendFileSync } from "node:fs"
import { KeyedRefs } from "@troupe/cluster"
import { Actor } from "@troupe/core"
import { Effect, Ref, Schema } from "effect"
import { ClusterSchema } from "effect/cluster"
import { Rpc } from "effect/rpc"

export const Account = Actor.make("Account", [
  Rpc.make("Deposit", { payload: { amount: Schema.Int }, success: Schema.Int }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Balance", { success: Schema.Int })
])

/** The service the programs ask for: refs to accounts, wherever they run. */
export const Accounts = KeyedRefs.Tag(Account)

const audit = (key: string, event: "start" | "stop") => {
  const file = process.env.TROUPE_ACTIVATIONS
  if (file === undefined) return
  const line = { key, event, runner: process.env.TROUPE_RUNNER ?? "", pid: process.pid, at: Date.now() }
  appendFileSync(file, `${JSON.stringify(line)}\n`)
}

export const AccountBehaviour = Actor.behaviour(
  Account,
  Effect.gen(function* () {
    const { key } = yield* Actor.ActorContext
    yield* Effect.acquireRelease(
      Effect.sync(() => audit(key, "start")),
      () => Effect.sync(() => audit(key, "stop"))
    )
    const balance = yield* Actor.persistedRef(Schema.Int, 0)
    return {
      Deposit: ({ payload }) => Ref.updateAndGet(balance, (n) => n + payload.amount),
      Balance: () => Ref.get(balance)
    }
  })
)
