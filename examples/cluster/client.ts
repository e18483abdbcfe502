/**
 * The same program on one machine or on a cluster: only the Layer changes.
 *
 *   node examples/cluster/client.ts --local                  # a Keyed group here, no database
 *   node examples/cluster/client.ts --database postgres://…  # the accounts on the cluster's runners
 *
 * It deposits into three accounts and prints their balances.
 */
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ClusterClient, ClusterNode, KeyedRefs } from "@troupe/cluster"
import { NodeProcess } from "@troupe/node"
import { Console, Effect, Layer } from "effect"
import { type Account, AccountBehaviour, Accounts } from "./account.ts"

const { values } = parseArgs({
  options: { local: { type: "boolean", default: false }, database: { type: "string" } }
})

// The program: it asks for `Accounts` and does not know where the accounts live.
const program = Effect.gen(function* () {
  const accounts = yield* Accounts
  for (const name of ["alice", "bob", "carol"]) {
    yield* accounts.get(name).ask("Deposit", { amount: 10 })
    const balance = yield* accounts.get(name).ask("Balance", undefined)
    yield* Console.log(`${name}: ${balance}`)
  }
})

// The one line that changes: a Keyed group on this machine, or the cluster.
const AccountsLive: Layer.Layer<KeyedRefs.KeyedRefs<typeof Account>, unknown> = values.local
  ? KeyedRefs.layerLocal(Accounts, AccountBehaviour, { hosts: 2 }).pipe(Layer.provide(NodeProcess.layer))
  : ClusterClient.layer(Accounts).pipe(
      Layer.provide(
        ClusterNode.layerClient({ database: values.database ?? "postgres://postgres@127.0.0.1:5432/postgres" })
      )
    )

NodeRuntime.runMain(program.pipe(Effect.provide(AccountsLive)))
