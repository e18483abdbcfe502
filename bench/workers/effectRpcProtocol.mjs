/** The Rpc group the `effect-rpc` contender's parent and children share. */

import { Rpc, RpcGroup } from "effect/rpc"
import * as Schema from "effect/Schema"

export const Square = Rpc.make("Square", { payload: { n: Schema.Number }, success: Schema.Number })
export const Spin = Rpc.make("Spin", { payload: { iterations: Schema.Number }, success: Schema.Number })
export const Crash = Rpc.make("Crash", { payload: { n: Schema.Number }, success: Schema.Number })

export const Ops = RpcGroup.make(Square, Spin, Crash)
