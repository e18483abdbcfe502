/**
 * `Transport.stopInSteps`, the one stop escalation of pools, actor hosts and
 * platforms, on an in-memory connection and the test clock: each step waits
 * one grace for the exit before the next, and a child that exits stops it.
 */
import { it } from "@effect/vitest"
import { ExitStatus, Transport } from "@troupe/core"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { expect } from "vitest"

/** A connection whose child exits when it gets the step `exitsOn` (never, when undefined), recording the steps. */
const fakeChild = (exitsOn: Transport.StopStep | undefined) =>
  Effect.gen(function* () {
    const steps: Array<Transport.StopStep> = []
    const exited = yield* Deferred.make<ExitStatus.ExitStatus>()
    let status: ExitStatus.ExitStatus | undefined
    const take = (step: Transport.StopStep) => {
      if (status !== undefined) return
      steps.push(step)
      if (step !== exitsOn) return
      status = new ExitStatus.ExitStatus({ code: step === "Close" ? 0 : null, signal: step === "Close" ? null : step })
      Deferred.doneUnsafe(exited, Effect.succeed(status))
    }
    const connection: Transport.Connection = {
      pid: 1,
      send: (frame) => Effect.sync(() => connection.sendUnsafe(frame)),
      sendUnsafe: (frame) => {
        if ((frame as { _tag?: string })._tag === "Close") take("Close")
      },
      exited: Deferred.await(exited),
      exitStatus: () => status,
      signal: (signal) => Effect.sync(() => take(signal)),
      modules: undefined,
      stdout: Stream.empty,
      stderr: Stream.empty
    }
    return { connection, steps }
  })

it.effect("each step waits one grace for the exit before the next; the exit ends the escalation", () =>
  Effect.gen(function* () {
    const { connection, steps } = yield* fakeChild("SIGTERM")
    const stopping = yield* Effect.forkChild(Transport.stopInSteps(connection, ["Close", "SIGTERM", "SIGKILL"], 1000))
    yield* Effect.yieldNow
    expect(steps).toEqual(["Close"])
    yield* TestClock.adjust(999)
    expect(steps).toEqual(["Close"])
    yield* TestClock.adjust(1)
    yield* Fiber.join(stopping)
    expect(steps).toEqual(["Close", "SIGTERM"])
  })
)

it.effect("the last step waits for the exit however long it takes", () =>
  Effect.gen(function* () {
    const { connection, steps } = yield* fakeChild(undefined)
    const stopping = yield* Effect.forkChild(Transport.stopInSteps(connection, ["SIGTERM", "SIGKILL"], 500))
    yield* TestClock.adjust(10_000)
    expect(steps).toEqual(["SIGTERM", "SIGKILL"])
    expect(stopping.pollUnsafe()).toBeUndefined()
    yield* Fiber.interrupt(stopping)
  })
)

it.effect("a child that has exited is left as it is", () =>
  Effect.gen(function* () {
    const { connection, steps } = yield* fakeChild("SIGKILL")
    yield* connection.signal("SIGKILL")
    yield* Transport.stopInSteps(connection, ["Close", "SIGTERM", "SIGKILL"], 1000)
    expect(steps).toEqual(["SIGKILL"])
  })
)
