/**
 * Contender `effect-rpc`: Effect's own worker pool,
 * `RpcClient.layerProtocolWorker({ size, concurrency: 32 })` over forked
 * children (`serialization: "json"`), with tracing off on both sides.
 */
import { fork } from "node:child_process"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { RpcClient, type RpcClientError } from "effect/rpc"
import * as Scope from "effect/Scope"
import { Ops } from "../workers/effectRpcProtocol.mjs"
import { lanes } from "./effectLanes.ts"
import type { Contender } from "./types.ts"

const childScript = new URL("../workers/effectRpcChild.mjs", import.meta.url)

export const make = (): Contender => {
  const pids = new Map<number, number>()
  let runtime: ManagedRuntime.ManagedRuntime<RpcClient.Protocol, unknown> | undefined
  let scope: Scope.Closeable | undefined
  let client: RpcClient.FromGroup<typeof Ops, RpcClientError.RpcClientError> | undefined
  let runPromise: (<A>(effect: Effect.Effect<A, unknown, RpcClient.Protocol>) => Promise<A>) | undefined
  // As for Troupe: calls run in the runtime's context, without `runtime.runPromise`'s per-fiber bookkeeping.
  const run = <A>(effect: Effect.Effect<A, unknown, RpcClient.Protocol>): Promise<A> => runPromise!(effect)
  return {
    kind: "process",
    start: async (size) => {
      const spawner = NodeWorker.layer((id) => {
        const child = fork(childScript, [], { serialization: "json", stdio: ["ignore", "inherit", "inherit", "ipc"] })
        pids.set(id, child.pid ?? 0)
        return child
      })
      runtime = ManagedRuntime.make(
        RpcClient.layerProtocolWorker({ size, concurrency: 32 }).pipe(Layer.provide(spawner))
      )
      scope = await runtime.runPromise(Scope.make())
      client = await runtime.runPromise(Scope.provide(RpcClient.make(Ops, { disableTracing: true }), scope))
      runPromise = Effect.runPromiseWith(await runtime.context())
    },
    run: (n) => run(client!.Square({ n })),
    runCpu: (iterations) => run(client!.Spin({ iterations })),
    runCrash: (n) => run(client!.Crash({ n })),
    runMany: (ns, inFlight) => run(lanes(ns, inFlight, (n) => client!.Square({ n }))),
    pids: async () => [...pids.values()],
    close: async () => {
      if (scope !== undefined) await runtime?.runPromise(Scope.close(scope, Exit.void))
      await runtime?.dispose()
    }
  }
}
