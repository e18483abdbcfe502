/**
 * The `effect-rpc` contender's child: `RpcServer` over
 * `RpcServer.layerProtocolWorkerRunner` + `NodeWorkerRunner` (fork), with
 * tracing off as on the client. Plain JavaScript, as every bench worker is:
 * a `.ts` child would load Node's type stripper, which no installed
 * library's child pays.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { RpcServer } from "effect/rpc"
import { Ops } from "./effectRpcProtocol.mjs"
import { crash, spin, square } from "./work.mjs"

const Handlers = Ops.toLayer({
  Square: ({ n }) => Effect.succeed(square(n)),
  Spin: ({ iterations }) => Effect.sync(() => spin(iterations)),
  Crash: ({ n }) => Effect.sync(() => crash(n))
})

NodeRuntime.runMain(
  Layer.launch(
    RpcServer.layer(Ops, { disableTracing: true }).pipe(
      Layer.provide(Handlers),
      Layer.provide(RpcServer.layerProtocolWorkerRunner),
      Layer.provide(NodeWorkerRunner.layer)
    )
  )
)
