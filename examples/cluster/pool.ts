/**
 * Tasks on one machine or on a cluster: the program asks for `Pool`, and the
 * Layer decides where the tasks run.
 *
 *   node examples/cluster/pool.ts --local                  # a pool of worker processes here
 *   node examples/cluster/pool.ts --database postgres://…  # the runners' local pools (examples/cluster/runner.ts)
 *
 * It squares 1 to 10 with `Pool.map`, prints the squares and their sum, and
 * shows the typed error of a refused task.
 */
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ClusterNode, ClusterPool } from "@troupe/cluster"
import { Pool } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Console, Effect, Layer } from "effect"
import { Square, tasks } from "./tasks.ts"

const { values } = parseArgs({
  options: { local: { type: "boolean", default: false }, database: { type: "string" } }
})

// The program: the same `Pool` service on one machine and on a cluster.
const program = Effect.gen(function* () {
  const squares = yield* Pool.map(
    Square,
    Array.from({ length: 10 }, (_, i) => i + 1)
  )
  yield* Console.log(`squares: ${squares.join(", ")}`)
  yield* Console.log(`sum: ${squares.reduce((a, b) => a + b, 0)}`)
  const refused = yield* Effect.flip(Pool.apply(Square, -1))
  yield* Console.log(`refused: ${refused._tag}`)
})

// The one line that changes: a local pool, or the cluster's runners.
const PoolLive: Layer.Layer<Pool.Pool, unknown> = values.local
  ? NodePool.layer({ size: 2, tasks })
  : ClusterPool.layer(tasks).pipe(
      Layer.provide(
        ClusterNode.layerClient({ database: values.database ?? "postgres://postgres@127.0.0.1:5432/postgres" })
      )
    )

NodeRuntime.runMain(program.pipe(Effect.provide(PoolLive)))
