/**
 * Options are checked where they are given (issue 13, items 10 and 12): a
 * pool, a task, a process or a call with a negative, zero or `NaN` deadline,
 * a negative grace, a backoff whose minimum exceeds its maximum, or an absurd
 * size is refused with an `InvalidOption` that names the field, before any
 * worker starts; nothing becomes an immediate timeout.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Channel, IpcPipe, Pool, Process, Task, TroupeError } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import { Rpc } from "effect/rpc"
import { backends, withPool } from "./fixtures/pool.ts"
import * as T from "./fixtures/poolTasks.ts"

const optionOf = <A, E>(exit: Exit.Exit<A, E>): string => {
  const error = Exit.findErrorOption(exit)
  if (error._tag === "None" || !(error.value instanceof TroupeError.InvalidOption)) {
    throw new Error(`expected an InvalidOption, got ${String(Exit.isFailure(exit) ? exit.cause : "a success")}`)
  }
  return error.value.option
}

/** Each constructor call throws an `InvalidOption` naming its option. */
const expectRefused = (refused: ReadonlyArray<readonly [string, () => unknown]>) => {
  for (const [option, make] of refused) {
    const thrown = (() => {
      try {
        make()
        return undefined
      } catch (error) {
        return error
      }
    })()
    expect(thrown, option).toBeInstanceOf(TroupeError.InvalidOption)
    expect((thrown as TroupeError.InvalidOption).option).toBe(option)
  }
}

describe("Pool options", () => {
  const refused: ReadonlyArray<readonly [string, Pool.Options]> = [
    ["size", { size: 1_000_000 }],
    ["size", { size: 0 }],
    ["size", { size: 2.5 }],
    ["timeout", { timeout: -1 }],
    ["timeout", { timeout: Number.NaN }],
    ["timeout", { timeout: 0 }],
    ["timeout", { timeout: "-5 seconds" }],
    ["idleTimeout", { idleTimeout: 0 }],
    ["startTimeout", { startTimeout: 0 }],
    ["killTimeout", { killTimeout: -1 }],
    ["interruptGrace", { interruptGrace: -1 }],
    ["shutdown.timeout", { shutdown: { timeout: -1 } }],
    ["backoff", { backoff: { min: "2 seconds", max: "1 second", randomFactor: 0 } }],
    ["restartIntensity", { restartIntensity: { maxRestarts: 1, period: 0 } }],
    ["intensity", { intensity: -1 }],
    ["intensity", { intensity: 1.5 }],
    ["period", { period: 0 }],
    ["onExceeded", { onExceeded: "retry" as never }],
    ["maxFrameBytes", { maxFrameBytes: 0 }],
    // What an untyped caller may write: each was accepted, then ignored or failed later, elsewhere.
    ["start", { start: "soon" as never }],
    ["tasks", { tasks: [5] as never }],
    ["tasks", { tasks: "Square" as never }],
    ["initializer", { initializer: 5 as never }],
    ["initializer", { initializer: { task: 5, payload: 1 } as never }],
    ["execArgv", { execArgv: "--expose-gc" as never }],
    ["execArgv", { execArgv: [5] as never }],
    ["env", { env: 5 as never }],
    ["env", { env: { A: 1 } as never }],
    // A misspelt bound was no bound at all: a task module that never loads held its calls for ever.
    ["moduleLoadTimeout", { moduleLoadTimeout: "500 milis" as never }],
    ["moduleLoadTimeout", { moduleLoadTimeout: "abc" as never }],
    ["moduleLoadTimeout", { moduleLoadTimeout: 0 }],
    ["moduleLoadTimeout", { moduleLoadTimeout: -1 }],
    // Misspelt, these drained as "all".
    ["shutdown.drain", { shutdown: { drain: "inflight" as never } }],
    ["shutdown.drain", { shutdown: { drain: 5 as never } }],
    ["shutdown.onInterrupt", { shutdown: { onInterrupt: "abort" as never } }],
    ["shutdown", { shutdown: "now" as never }]
  ]
  for (const [option, options] of refused) {
    it.effect(`${JSON.stringify(options)} is refused at construction, naming ${option}`, () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Effect.scoped(Pool.make({ start: "lazy", ...options })))
        expect(optionOf(exit)).toBe(option)
      }).pipe(Effect.provide(NodePool.transport("process")))
    )
  }

  it.effect("NodePool.layer refuses a backend that is neither process nor thread, naming backend", () =>
    Effect.gen(function* () {
      for (const backend of ["threads", null, 1]) {
        const layer = NodePool.layer({ backend: backend as never, start: "lazy" })
        expect(optionOf(yield* Effect.exit(Effect.scoped(Layer.build(layer))))).toBe("backend")
      }
    })
  )

  it.live("options of null, from an untyped caller, are no options", () =>
    Effect.gen(function* () {
      const squared = Pool.apply(T.Square, 3)
      expect(yield* squared.pipe(Effect.provide(NodePool.layer(null as never)))).toBe(9)
      const made = Effect.scoped(Effect.flatMap(Pool.make(null as never), (pool) => pool.apply(T.Square, 4)))
      expect(yield* made.pipe(Effect.provide(NodePool.transport("process")))).toBe(16)
    })
  )
})

describe("Task and Process options", () => {
  it("Task.make throws an InvalidOption for a timeout that is not over zero", () => {
    for (const timeout of [0, -1, Number.NaN]) {
      expect(() =>
        Task.make("options/Bad", { payload: Schema.Number, handler: Effect.succeed, timeout, module: import.meta.url })
      ).toThrow(TroupeError.InvalidOption)
    }
  })

  it("Task.make throws an InvalidOption naming what an untyped caller got wrong: name, handler, retries, options", () => {
    const module = import.meta.url
    const refused: ReadonlyArray<readonly [string, () => unknown]> = [
      ["name", () => Task.make("" as never, { handler: Effect.succeed, module })],
      ["name", () => Task.make(5 as never, { handler: Effect.succeed, module })],
      ["handler", () => Task.make("options/NoHandler", { handler: 5 as never, module })],
      ["handler", () => Task.make("options/NoHandler", { module } as never)],
      ["retries", () => Task.make("options/BadRetries", { handler: Effect.succeed, retries: -1, module })],
      ["retries", () => Task.make("options/BadRetries", { handler: Effect.succeed, retries: 1.5, module })],
      ["options", () => Task.make("options/NoOptions", undefined as never)]
    ]
    expectRefused(refused)
  })

  it("Actor.make, Actor.behaviour and Channel.make throw an InvalidOption naming what an untyped caller got wrong", () => {
    const Ok = Actor.make("options/Ok", [Rpc.make("A", { success: Schema.Int })])
    const module = import.meta.url
    const refused: ReadonlyArray<readonly [string, () => unknown]> = [
      ["name", () => Actor.make("", [Rpc.make("A", {})])],
      ["protocol", () => Actor.make("options/NotAnArray", null as never)],
      ["protocol", () => Actor.make("options/NotRpcs", [5] as never)],
      ["protocol", () => Actor.make("options/TwoA", [Rpc.make("A", {}), Rpc.make("A", {})])],
      ["actor", () => Actor.behaviour({} as never, Effect.succeed({}) as never, { module })],
      ["build", () => Actor.behaviour(Ok, 5 as never, { module })],
      ["name", () => Channel.make("", {})],
      ["methods", () => Channel.make("options/NoMethods", null as never)],
      ["Add.payload", () => Channel.make("options/BadMethod", { Add: { payload: 5 as never } })],
      [
        "onFailure",
        () =>
          Actor.behaviour(Ok, Effect.succeed({ A: () => Effect.succeed(1) }), { module, onFailure: "retry" as never })
      ]
    ]
    expectRefused(refused)
  })

  it.effect("IpcPipe.make of something that is not a Schema is a defect that says so", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(IpcPipe.make(Schema.String, 5 as never)))
      expect(String(exit._tag === "Failure" && exit.cause)).toContain("IpcPipe.make expects two Schemas")
    })
  )

  it.effect("Process.start refuses a negative shutdownTimeout, and options of the wrong kind, before it forks", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Process.start(T.Square, 2, { shutdownTimeout: -1 })))
      expect(optionOf(exit)).toBe("shutdownTimeout")
      // What an untyped caller may write: each was handed to the spawn as it was.
      const untyped: ReadonlyArray<readonly [string, Process.StartOptions]> = [
        ["stdout", { stdout: "ignore" as never }],
        ["stderr", { stderr: 1 as never }],
        ["execArgv", { execArgv: "--expose-gc" as never }],
        ["env", { env: { A: 1 } as never }],
        ["name", { name: 5 as never }],
        ["name", { name: "" }]
      ]
      for (const [option, options] of untyped) {
        expect(optionOf(yield* Effect.exit(Effect.scoped(Process.start(T.Square, 2, options))))).toBe(option)
      }
      // Something that is not a task is a defect that says so, as a pool call's is.
      for (const notATask of [{}, null]) {
        const exit = yield* Effect.exit(Process.run(notATask as never, 2 as never))
        expect(Exit.isFailure(exit) && String(exit.cause)).toContain("Process.start expects a task made by Task.make")
      }
    }).pipe(Effect.provide(NodePool.transport("process")))
  )

  it.live("a process handle's joinTimeout refuses a timeout that is not a duration of zero or more", () =>
    Effect.gen(function* () {
      const child = yield* Process.start(T.Square, 3)
      for (const timeout of [-1, Number.NaN, "banana"]) {
        expect(optionOf(yield* Effect.exit(child.joinTimeout(timeout as never)))).toBe("timeout")
      }
      expect(yield* child.result).toBe(9)
      expect(yield* child.joinTimeout("20 seconds")).toEqual(Option.some({ code: 0, signal: null }))
    }).pipe(Effect.scoped, Effect.provide(NodePool.transport("process")))
  )
})

describe.each(backends)("per-call options on %s", (backend) => {
  it.live(
    "a call with a bad timeout, retries, wait, chunkSize, bufferSize or total fails with InvalidOption; the pool serves on",
    () =>
      withPool(backend, { size: 1 }, (pool) =>
        Effect.gen(function* () {
          expect(optionOf(yield* Effect.exit(pool.apply(T.Square, 2, { timeout: 0 })))).toBe("timeout")
          expect(optionOf(yield* Effect.exit(pool.apply(T.Square, 2, { timeout: -1 })))).toBe("timeout")
          expect(optionOf(yield* Effect.exit(pool.apply(T.Square, 2, { retries: -1 })))).toBe("retries")
          expect(optionOf(yield* Effect.exit(pool.offer(T.Square, 2, { wait: -1 })))).toBe("wait")
          expect(optionOf(yield* Effect.exit(pool.map(T.Square, [1, 2], { timeout: Number.NaN })))).toBe("timeout")
          expect(optionOf(yield* Effect.exit(pool.map(T.Square, [1, 2], { chunkSize: 0 })))).toBe("chunkSize")
          // Typed in mapSettled too (it died with it).
          expect(optionOf(yield* Effect.exit(pool.mapSettled(T.Square, [1, 2], { chunkSize: 0 })))).toBe("chunkSize")
          // A stream's own options: a NaN bufferSize sent nothing and waited for ever.
          for (const imap of [pool.imap, pool.imapUnordered]) {
            for (const bufferSize of [Number.NaN, 0, -1, 1.5]) {
              const collect = Stream.runCollect(imap(T.Square, [1, 2], { bufferSize }))
              const exit = yield* Effect.exit(Effect.timeout(collect, "10 seconds"))
              expect(optionOf(exit)).toBe("bufferSize")
            }
            expect(optionOf(yield* Effect.exit(Stream.runCollect(imap(T.Square, [1, 2], { total: -1 }))))).toBe("total")
          }
          expect(yield* pool.apply(T.Square, 3, { timeout: "10 seconds" })).toBe(9)
        })
      )
  )
})
