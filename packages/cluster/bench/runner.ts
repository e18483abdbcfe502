/**
 * The bench's runner: `Counter` through Troupe (a Keyed group of two host
 * processes, or threads when `TROUPE_BENCH_HOSTS` is `thread`) and
 * `RawCounter` as a plain entity, on the same runner.
 * `--database <url> --port <port>`; prints `runner ready on <port>`.
 */
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ClusterNode, ClusterRunner } from "@troupe/cluster"
import { NodeProcess, NodeThread } from "@troupe/node"
import { Console, Effect, Layer } from "effect"
import { CounterBehaviour, RawCounterLive } from "./counter.ts"

const { values } = parseArgs({ options: { database: { type: "string" }, port: { type: "string" } } })
const port = Number(values.port)
const Runner = Layer.mergeAll(ClusterRunner.layer([CounterBehaviour], { keyed: { hosts: 2 } }), RawCounterLive).pipe(
  Layer.provide(ClusterNode.layerRunner({ database: values.database!, host: "127.0.0.1", port })),
  Layer.provide(process.env.TROUPE_BENCH_HOSTS === "thread" ? NodeThread.layer : NodeProcess.layer)
)

NodeRuntime.runMain(Effect.andThen(Console.log(`runner ready on ${port}`), Effect.never).pipe(Effect.provide(Runner)))
