/**
 * A minimal hand-written pool over a raw channel (`process.send` or
 * `postMessage`): the throughput ceiling the real pools are compared with.
 * Each task goes at once to the worker with the fewest pending tasks (no
 * parent-side queue); a worker that exits fails its pending tasks and is
 * replaced at once.
 */

import { op } from "../workers/work.mjs"
import type { Contender } from "./types.ts"

export interface Channel {
  readonly pid: number
  send(message: [number, number, number]): void
  /** Ends the worker gracefully and resolves once it is gone. */
  stop(): Promise<void>
}

export type Spawn = (onMessage: (message: [number, number]) => void, onExit: () => void) => Channel

interface Pending {
  resolve(value: number): void
  reject(error: Error): void
}

interface Slot {
  channel: Channel
  readonly pending: Map<number, Pending>
}

/** A raw pool: a contender, and its callback entry for wrappers that settle something other than a Promise. */
export interface RawPool extends Contender {
  readonly submitWith: (
    code: number,
    arg: number,
    resolve: (value: number) => void,
    reject: (error: Error) => void
  ) => void
}

export const makeRawPool = (kind: "process" | "thread", spawn: Spawn): RawPool => {
  const slots: Array<Slot> = []
  let nextId = 0
  let closing = false

  const open = (index: number): void => {
    const slot: Slot = { channel: undefined as unknown as Channel, pending: new Map() }
    slot.channel = spawn(
      ([id, result]) => {
        const waiter = slot.pending.get(id)
        if (waiter === undefined) return
        slot.pending.delete(id)
        waiter.resolve(result)
      },
      () => {
        for (const waiter of slot.pending.values()) waiter.reject(new Error("worker exited"))
        slot.pending.clear()
        if (!closing && slots[index] === slot) open(index)
      }
    )
    slots[index] = slot
  }

  /** Sends one task to the worker with the fewest pending; `resolve` or `reject` is called once with its outcome. */
  const submitWith = (
    code: number,
    arg: number,
    resolve: (value: number) => void,
    reject: (error: Error) => void
  ): void => {
    let best = slots[0]!
    for (let i = 1; i < slots.length; i++) if (slots[i]!.pending.size < best.pending.size) best = slots[i]!
    const id = nextId++
    best.pending.set(id, { resolve, reject })
    best.channel.send([id, code, arg])
  }

  const submit = (code: number, arg: number): Promise<number> =>
    new Promise((resolve, reject) => submitWith(code, arg, resolve, reject))

  return {
    kind,
    submitWith,
    start: async (size) => {
      for (let i = 0; i < size; i++) open(i)
    },
    run: (n) => submit(op.square, n),
    runCpu: (iterations) => submit(op.spin, iterations),
    runCrash: (n) => submit(op.crash, n),
    pids: async () => (kind === "process" ? slots.map((slot) => slot.channel.pid) : []),
    close: async () => {
      closing = true
      await Promise.all(slots.map((slot) => slot.channel.stop()))
    }
  }
}
