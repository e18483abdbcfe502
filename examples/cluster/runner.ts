/**
 * A cluster runner: serves `Account` from two supervised host processes,
 * and the tasks of `tasks.ts` (`pool.ts`) on a local pool of two workers.
 *
 *   node examples/cluster/runner.ts --database postgres://postgres@127.0.0.1:5432/bank --port 34431
 *
 * Start as many as you like, on one machine or several (`--host` is the
 * address the others reach this one at). It prints `runner ready on <port>`
 * once it has joined, and leaves the cluster gracefully on SIGTERM or Ctrl-C:
 * its shards move to the other runners within seconds.
 */
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ClusterNode, ClusterPool, ClusterRunner } from "@troupe/cluster"
import { NodePool, NodeProcess } from "@troupe/node"
import { Console, Effect, Layer } from "effect"
import { AccountBehaviour } from "./account.ts"
import { tasks } from "./tasks.ts"

const { values } = parseArgs({
  options: {
    database: { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "34431" }
  }
})
const port = Number(values.port)

const Runner = Layer.mergeAll(
  ClusterRunner.layer([AccountBehaviour], { keyed: { hosts: 2 } }).pipe(Layer.provide(NodeProcess.layer)),
  ClusterPool.layerRunner(tasks).pipe(Layer.provide(NodePool.layer({ size: 2, tasks })))
).pipe(Layer.provide(ClusterNode.layerRunner({ database: values.database, host: values.host, port })))

NodeRuntime.runMain(Effect.andThen(Console.log(`runner ready on ${port}`), Effect.never).pipe(Effect.provide(Runner)))
