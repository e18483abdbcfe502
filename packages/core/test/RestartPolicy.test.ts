/**
 * Restart intensity (OTP add_restart), Akka backoff, the restart core on the
 * test clock (no real processes, no real sleep), and the backoff Schedule.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import * as RestartPolicy from "../src/RestartPolicy.ts"

const ms = (duration: Duration.Duration): number => Duration.toMillis(duration)

/** A `Random` that returns the given doubles in turn, then repeats the last. */
const fixedRandom = (...values: ReadonlyArray<number>): Random.Random => {
  let i = 0
  return {
    nextDoubleUnsafe: () => values[Math.min(i++, values.length - 1)]!,
    nextIntUnsafe: () => 0
  }
}

/** Feeds restart times through addRestart and returns `exceeded` for each. */
const run = (times: ReadonlyArray<number>, limit: RestartPolicy.Intensity): Array<boolean> => {
  let history: ReadonlyArray<number> = []
  return times.map((now) => {
    const step = RestartPolicy.addRestart(history, now, limit)
    history = step.history
    return step.exceeded
  })
}

const s38 = { min: "100 millis", max: "1 second", randomFactor: 0 } as const

describe("RestartPolicy.intensity", () => {
  it("validates its arguments", () => {
    expect(RestartPolicy.intensity(0, "1 second")).toEqual({ maxRestarts: 0, periodMs: 1000 })
    expect(RestartPolicy.intensity(3, Duration.minutes(1))).toEqual({ maxRestarts: 3, periodMs: 60_000 })
    expect(() => RestartPolicy.intensity(-1, "1 second")).toThrow(/maxRestarts/)
    expect(() => RestartPolicy.intensity(1.5, "1 second")).toThrow(/maxRestarts/)
    expect(() => RestartPolicy.intensity(1, 0)).toThrow(/period/)
    expect(() => RestartPolicy.intensity(1, -5)).toThrow(/period/)
    expect(() => RestartPolicy.intensity(1, Number.NaN)).toThrow(/period/)
    expect(() => RestartPolicy.intensity(1, "soon" as Duration.Input)).toThrow(/period/)
  })
})

describe("RestartPolicy.addRestart (OTP add_restart/3)", () => {
  it("S29: intensity 2, the 3rd restart within the period is exceeded", () => {
    const limit = RestartPolicy.intensity(2, "3600 seconds")
    expect(run([0, 1_000, 2_000], limit)).toEqual([false, false, true])
    const third = RestartPolicy.addRestart([0, 1_000], 2_000, limit)
    expect(third.history).toEqual([0, 1_000, 2_000])
  })

  it("S30: intensity 1, period 1 s: restarts 2.1 s apart never exceed, two within 1 s do", () => {
    const limit = RestartPolicy.intensity(1, "1 second")
    expect(run([0, 2_100, 4_200, 6_300], limit)).toEqual([false, false, false, false])
    expect(run([0, 999], limit)).toEqual([false, true])
    expect(run([5_000, 5_400], limit)).toEqual([false, true])
  })

  it("keeps restarts exactly one period old (R >= now - period) and drops older ones", () => {
    const limit = { maxRestarts: 1, periodMs: 1000 }
    expect(RestartPolicy.addRestart([0], 1000, limit)).toEqual({ history: [0, 1000], exceeded: true })
    expect(RestartPolicy.addRestart([0], 1001, limit)).toEqual({ history: [1001], exceeded: false })
    expect(RestartPolicy.addRestart([0, 500, 900], 1400, limit).history).toEqual([500, 900, 1400])
  })

  it("intensity 0: the first restart exceeds", () => {
    expect(run([0], RestartPolicy.intensity(0, "5 seconds"))).toEqual([true])
  })

  it("does not mutate the history it is given", () => {
    const history = Object.freeze([0, 10])
    RestartPolicy.addRestart(history, 20, { maxRestarts: 5, periodMs: 100 })
    expect(history).toEqual([0, 10])
  })
})

describe("RestartPolicy.backoffDelay (Akka)", () => {
  it("S38: min 100 ms, max 1 s, randomFactor 0 doubles up to the max", () => {
    const delays = [0, 1, 2, 3, 4, 5].map((n) => ms(RestartPolicy.backoffDelay(n, s38, 0.7)))
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000])
  })

  it("uses max from n = 30 on, then still applies the random factor", () => {
    const options = { min: Duration.millis(1), max: Duration.days(30), randomFactor: 0.5 }
    expect(ms(RestartPolicy.backoffDelay(29, options, 0))).toBe(2 ** 29)
    expect(ms(RestartPolicy.backoffDelay(30, options, 0))).toBe(ms(Duration.days(30)))
    expect(ms(RestartPolicy.backoffDelay(5_000, options, 0))).toBe(ms(Duration.days(30)))
    expect(ms(RestartPolicy.backoffDelay(5_000, options, 0.5))).toBe(ms(Duration.days(30)) * 1.25)
  })

  it("with randomFactor 0.2 every delay lies in [d, 1.2 d]", () => {
    const jittered = { ...s38, randomFactor: 0.2 }
    let stretched = 0
    for (let n = 0; n < 40; n++) {
      const d = ms(RestartPolicy.backoffDelay(n, s38, 0))
      const randoms = [0, 0.5, 0.999_999, ...Array.from({ length: 50 }, () => Math.random())]
      for (const random of randoms) {
        const jitteredDelay = ms(RestartPolicy.backoffDelay(n, jittered, random))
        expect(jitteredDelay).toBeGreaterThanOrEqual(d)
        expect(jitteredDelay).toBeLessThanOrEqual(1.2 * d)
        if (jitteredDelay > d) stretched++
      }
    }
    expect(stretched).toBeGreaterThan(0)
    expect(ms(RestartPolicy.backoffDelay(2, jittered, 0.5))).toBeCloseTo(440, 6)
  })

  it("rejects invalid options", () => {
    expect(() => RestartPolicy.backoffDelay(0, { min: -1, max: 10, randomFactor: 0 }, 0)).toThrow(/min/)
    expect(() => RestartPolicy.backoffDelay(0, { min: 10, max: 5, randomFactor: 0 }, 0)).toThrow(/max/)
    expect(() => RestartPolicy.backoffDelay(0, { min: 10, max: "Infinity", randomFactor: 0 }, 0)).toThrow(/max/)
    expect(() => RestartPolicy.backoffDelay(0, { min: 10, max: 20, randomFactor: -0.1 }, 0)).toThrow(/randomFactor/)
  })
})

describe("RestartPolicy.makeRestarter (the one restart core)", () => {
  const delays = (decision: RestartPolicy.RestartDecision): number => {
    if (decision._tag !== "Restart") throw new Error(`expected a restart, got ${JSON.stringify(decision)}`)
    return ms(decision.delay)
  }

  /** Fails right after every start: waits the delay, starts, fails again. */
  const crashLoop = (child: RestartPolicy.ChildRestarts, times: number) =>
    Effect.gen(function* () {
      const out: Array<RestartPolicy.RestartDecision> = []
      for (let i = 0; i < times; i++) {
        const decision = yield* child.failed()
        out.push(decision)
        if (decision._tag === "Restart") {
          yield* TestClock.adjust(decision.delay)
          yield* child.started
        }
      }
      return out
    })

  it.effect("S38: gaps 100, 200, 400, 800, 1000, 1000 ms, then 100 ms again after a run of resetAfter", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 100,
        period: "1 minute",
        backoff: { ...s38, resetAfter: "2 seconds" }
      }).child()
      yield* child.started
      const decisions = yield* crashLoop(child, 6)
      expect(decisions.map(delays)).toEqual([100, 200, 400, 800, 1000, 1000])
      expect(decisions.map((d) => (d._tag === "Restart" ? d.attempt : -1))).toEqual([1, 2, 3, 4, 5, 6])
      // Ran 1999 ms since its start: still consecutive.
      yield* TestClock.adjust("1999 millis")
      expect(delays(yield* child.failed())).toBe(1000)
      yield* TestClock.adjust("1 second")
      yield* child.started
      // Ran 2 s since its start: a stable run, the backoff starts again.
      yield* TestClock.adjust("2 seconds")
      const reset = yield* child.failed()
      expect(reset).toMatchObject({ _tag: "Restart", attempt: 1 })
      expect(delays(reset)).toBe(100)
    })
  )

  it.effect("a stable run is measured from the start, so a long backoff delay is not uptime", () =>
    Effect.gen(function* () {
      // default resetAfter = (100 + 1000) / 2 = 550 ms, shorter than the 800 and 1000 ms delays
      const child = RestartPolicy.makeRestarter({ intensity: 100, period: "1 minute", backoff: s38 }).child()
      yield* child.started
      expect((yield* crashLoop(child, 7)).map(delays)).toEqual([100, 200, 400, 800, 1000, 1000, 1000])
      yield* TestClock.adjust("549 millis")
      expect(delays(yield* child.failed())).toBe(1000)
      yield* TestClock.adjust("1 second")
      yield* child.started
      yield* TestClock.adjust("550 millis")
      expect(delays(yield* child.failed())).toBe(100)
    })
  )

  it.effect("a failed start is never a stable run, however long it took; ranMs overrides the measured run", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({ intensity: 100, period: "1 hour", backoff: s38 }).child()
      expect(delays(yield* child.failed({ ranMs: 10_000 }))).toBe(100)
      yield* TestClock.adjust("10 seconds")
      expect(delays(yield* child.failed({ startFailed: true }))).toBe(200)
      yield* TestClock.adjust("10 seconds")
      expect(delays(yield* child.failed({ startFailed: true }))).toBe(400)
      expect(delays(yield* child.failed({ ranMs: 549 }))).toBe(800)
      expect(delays(yield* child.failed({ ranMs: 550 }))).toBe(100)
    })
  )

  it.effect("resetAfter 0: any run is stable, but a failed start (or no start at all) still is not one", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 100,
        period: "1 hour",
        backoff: { ...s38, resetAfter: 0, maxRestarts: 2 }
      }).child()
      yield* child.started
      expect(delays(yield* child.failed())).toBe(100)
      yield* child.started
      expect(delays(yield* child.failed())).toBe(100)
      expect(delays(yield* child.failed({ startFailed: true }))).toBe(200)
      expect(yield* child.failed()).toMatchObject({ _tag: "GiveUp", reason: "maxRestarts", consecutive: 3 })
    })
  )

  it.effect("healthy (Akka's manual reset) starts the run of failures again but keeps the intensity window", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 3,
        period: "1 minute",
        backoff: { ...s38, resetAfter: "1 hour" }
      }).child()
      expect((yield* crashLoop(child, 3)).map(delays)).toEqual([100, 200, 400])
      yield* child.healthy
      expect(yield* child.failed()).toMatchObject({ _tag: "GiveUp", reason: "intensity", restarts: 4 })
    })
  )

  it.effect("healthy resets the backoff", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 10,
        period: "1 minute",
        backoff: { ...s38, resetAfter: "1 hour" }
      }).child()
      expect((yield* crashLoop(child, 3)).map(delays)).toEqual([100, 200, 400])
      yield* child.healthy
      expect(delays(yield* child.failed())).toBe(100)
    })
  )

  it.effect("the window is the supervisor's: failures of different children add up; the backoff is each child's", () =>
    Effect.gen(function* () {
      const restarter = RestartPolicy.makeRestarter({ intensity: 2, period: "1 minute", backoff: s38 })
      const a = restarter.child()
      const b = restarter.child()
      expect(delays(yield* a.failed())).toBe(100)
      expect(delays(yield* b.failed())).toBe(100)
      expect(yield* a.failed()).toMatchObject({ _tag: "GiveUp", reason: "intensity", restarts: 3, consecutive: 2 })
    })
  )

  it.effect("without a backoff a child restarts at once (OTP), and only the intensity gives up", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({ intensity: 2, period: "1 minute" }).child()
      const decisions = [yield* child.failed(), yield* child.failed(), yield* child.failed()]
      expect(decisions.map((d) => (d._tag === "Restart" ? ms(d.delay) : d.reason))).toEqual([0, 0, "intensity"])
    })
  )

  it.effect("the intensity is checked before maxRestarts: a failure past both is reported as intensity", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 1,
        period: "1 minute",
        backoff: { ...s38, maxRestarts: 1 }
      }).child()
      expect(delays(yield* child.failed())).toBe(100)
      expect(yield* child.failed()).toMatchObject({ _tag: "GiveUp", reason: "intensity", consecutive: 2 })
    })
  )

  it.effect("S29: intensity 2 gives up at the 3rd failure", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({ intensity: 2, period: "3600 seconds", backoff: s38 }).child()
      const decisions = yield* crashLoop(child, 3)
      expect(decisions.map((d) => d._tag)).toEqual(["Restart", "Restart", "GiveUp"])
      const giveUp = decisions[2]!
      expect(giveUp).toMatchObject({ _tag: "GiveUp", reason: "intensity", restarts: 3, consecutive: 3 })
      if (giveUp._tag === "GiveUp") expect(ms(giveUp.period)).toBe(3_600_000)
    })
  )

  it.effect("S30: failures 2.1 s apart never give up; two within 1 s do (on the monotonic test clock)", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({ intensity: 1, period: "1 second" }).child()
      for (let i = 0; i < 4; i++) {
        expect((yield* child.failed())._tag).toBe("Restart")
        yield* TestClock.adjust("2100 millis")
      }
      expect((yield* child.failed())._tag).toBe("Restart")
      yield* TestClock.adjust("999 millis")
      expect(yield* child.failed()).toMatchObject({ _tag: "GiveUp", reason: "intensity", restarts: 2 })
    })
  )

  it.effect("intensity 0: the first failure gives up", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({ intensity: 0, period: "5 seconds" }).child()
      expect(yield* child.failed()).toMatchObject({ _tag: "GiveUp", reason: "intensity", restarts: 1 })
    })
  )

  it.effect("maxRestarts 2: the third consecutive failure gives up; a stable run in between starts again", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 100,
        period: "1 minute",
        backoff: { ...s38, maxRestarts: 2 }
      }).child()
      yield* child.started
      expect((yield* crashLoop(child, 2)).map(delays)).toEqual([100, 200])
      yield* TestClock.adjust("1 second")
      expect(delays(yield* child.failed())).toBe(100)
      expect(delays(yield* child.failed({ startFailed: true }))).toBe(200)
      expect(yield* child.failed({ startFailed: true })).toMatchObject({
        _tag: "GiveUp",
        reason: "maxRestarts",
        consecutive: 3
      })
    })
  )

  it.effect("maxRestarts 0 means no limit", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 100,
        period: "1 minute",
        backoff: { ...s38, maxRestarts: 0 }
      }).child()
      expect((yield* crashLoop(child, 20)).every((d) => d._tag === "Restart")).toBe(true)
    })
  )

  it.effect("takes its random numbers from Random: with randomFactor 0.2 each delay lies in [d, 1.2 d]", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter({
        intensity: 100,
        period: "1 minute",
        backoff: { ...s38, randomFactor: 0.2 }
      }).child()
      const decisions = yield* crashLoop(child, 3).pipe(
        Effect.provideService(Random.Random, fixedRandom(0, 0.5, 0.999))
      )
      expect(decisions.map(delays)).toEqual([100, 220, 400 * (1 + 0.999 * 0.2)])
    })
  )

  it("rejects invalid options when it is built", () => {
    expect(() => RestartPolicy.makeRestarter({ intensity: -1, period: "1 second" })).toThrow(/maxRestarts/)
    expect(() => RestartPolicy.makeRestarter({ intensity: 1, period: 0 })).toThrow(/period/)
    expect(() =>
      RestartPolicy.makeRestarter({ intensity: 1, period: 1000, backoff: { ...s38, resetAfter: -1 } })
    ).toThrow(/resetAfter/)
    expect(() =>
      RestartPolicy.makeRestarter({ intensity: 1, period: 1000, backoff: { ...s38, maxRestarts: 1.5 } })
    ).toThrow(/maxRestarts/)
    expect(() =>
      RestartPolicy.makeRestarter({ intensity: 1, period: 1000, backoff: { min: 2, max: 1, randomFactor: 0 } })
    ).toThrow(/max/)
  })
})

describe("RestartPolicy.backoffSchedule", () => {
  it.effect("steps through the same delays as backoffDelay", () =>
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(RestartPolicy.backoffSchedule(s38))
      const got: Array<number> = []
      for (let i = 0; i < 40; i++) {
        const [output, delay] = yield* step(i * 10, undefined)
        expect(ms(output)).toBe(ms(delay))
        got.push(ms(delay))
      }
      expect(got.slice(0, 6)).toEqual([100, 200, 400, 800, 1000, 1000])
      expect(got).toEqual(got.map((_, n) => ms(RestartPolicy.backoffDelay(n, s38, 0))))
    })
  )

  it.effect("applies the random factor from Random like backoffDelay", () =>
    Effect.gen(function* () {
      const options = { ...s38, randomFactor: 0.2 }
      const step = yield* Schedule.toStep(RestartPolicy.backoffSchedule(options))
      const randoms = [0.1, 0.9, 0.5, 0]
      for (let n = 0; n < randoms.length; n++) {
        const [, delay] = yield* step(0, undefined)
        expect(ms(delay)).toBe(ms(RestartPolicy.backoffDelay(n, options, randoms[n]!)))
      }
    }).pipe(Effect.provideService(Random.Random, fixedRandom(0.1, 0.9, 0.5, 0)))
  )

  it.effect("drives Effect.retry on the test clock", () =>
    Effect.gen(function* () {
      let attempts = 0
      const failing = Effect.suspend(() => {
        attempts++
        return Effect.fail("boom")
      })
      const fiber = yield* failing.pipe(
        Effect.retry(RestartPolicy.backoffSchedule(s38).pipe(Schedule.upTo({ times: 4 }))),
        Effect.forkChild
      )
      yield* TestClock.adjust("99 millis")
      expect(attempts).toBe(1)
      yield* TestClock.adjust("1 millis") // t = 100: first retry
      expect(attempts).toBe(2)
      yield* TestClock.adjust("199 millis") // t = 299
      expect(attempts).toBe(2)
      yield* TestClock.adjust("1 millis") // t = 100 + 200: second retry
      expect(attempts).toBe(3)
      yield* TestClock.adjust("1199 millis") // t = 1499: third retry at 300 + 400, fourth not yet
      expect(attempts).toBe(4)
      yield* TestClock.adjust("1 millis") // t = 700 + 800: fourth retry, the last one
      expect(attempts).toBe(5)
      const exit = yield* Fiber.await(fiber)
      expect(exit._tag).toBe("Failure")
    })
  )
})

describe("RestartPolicy defaults", () => {
  it("poolDefaults(size): 2 * size restarts within 10 s, backoff 5 ms..1 s, randomFactor 0.2", () => {
    const defaults = RestartPolicy.poolDefaults(4)
    expect(defaults.intensity).toBe(8)
    expect(Duration.toMillis(Duration.fromInputUnsafe(defaults.period))).toBe(10_000)
    expect(Duration.toMillis(Duration.fromInputUnsafe(defaults.backoff!.min))).toBe(5)
    expect(Duration.toMillis(Duration.fromInputUnsafe(defaults.backoff!.max))).toBe(1000)
    expect(defaults.backoff!.randomFactor).toBe(0.2)
  })

  it("supervisorDefaults: 1 restart within 5 s and no backoff (OTP)", () => {
    const defaults = RestartPolicy.supervisorDefaults
    expect(defaults.intensity).toBe(1)
    expect(Duration.toMillis(Duration.fromInputUnsafe(defaults.period))).toBe(5000)
    expect(defaults.backoff).toBeUndefined()
  })

  it.effect("the pool defaults give up at the (2 * size + 1)-th failure within 10 s", () =>
    Effect.gen(function* () {
      const child = RestartPolicy.makeRestarter(RestartPolicy.poolDefaults(2)).child()
      const tags: Array<string> = []
      for (let i = 0; i < 5; i++) {
        tags.push((yield* child.failed())._tag)
        yield* TestClock.adjust("1 second")
      }
      expect(tags).toEqual(["Restart", "Restart", "Restart", "Restart", "GiveUp"])
    })
  )
})
