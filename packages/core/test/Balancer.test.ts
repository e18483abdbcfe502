/**
 * Worker selection as pure logic: least busy with rotation among ties, round
 * robin, and consistent hashing of keys onto slots.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Balancer from "../src/Balancer.ts"

const worker = (slot: number, inFlight = 0, capacity = 4, available = true): Balancer.WorkerView => ({
  slot,
  inFlight,
  capacity,
  available
})

const idle = (slots: ReadonlyArray<number>, capacity = 4): Array<Balancer.WorkerView> =>
  slots.map((slot) => worker(slot, 0, capacity))

/** The job a balancer places: a task of `payload`. */
const jobOf = <P>(payload: P): Balancer.Job<P> => ({ task: "Balancer.test/Task", payload })

const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`)

/** The slot each key lands on with idle workers in the given slots. */
const slotsOf = (balancer: Balancer.Balancer<string>, workers: ReadonlyArray<Balancer.WorkerView>) =>
  keys.map((key) => {
    const index = balancer.pick(workers, jobOf(key))
    if (index === undefined) throw new Error(`no worker for ${key}`)
    return workers[index]!.slot
  })

describe("Balancer.hasRoom", () => {
  it("needs an available worker below capacity", () => {
    expect(Balancer.hasRoom(worker(0, 3, 4))).toBe(true)
    expect(Balancer.hasRoom(worker(0, 4, 4))).toBe(false)
    expect(Balancer.hasRoom(worker(0, 0, 4, false))).toBe(false)
    expect(Balancer.hasRoom(worker(0, 0, 0))).toBe(false)
  })
})

describe("Balancer.leastBusy", () => {
  it("picks the least loaded worker", () => {
    const balancer = Balancer.leastBusy()
    expect(balancer.name).toBe("leastBusy")
    expect(balancer.pick([worker(0, 3), worker(1, 1), worker(2, 2)], jobOf(undefined))).toBe(1)
    expect(balancer.pick([worker(0, 2), worker(1, 3), worker(2, 0)], jobOf(undefined))).toBe(2)
  })

  it("skips unavailable and full workers", () => {
    const balancer = Balancer.leastBusy()
    expect(balancer.pick([worker(0, 0, 4, false), worker(1, 2), worker(2, 3)], jobOf(undefined))).toBe(1)
    expect(balancer.pick([worker(0, 1, 1), worker(1, 3), worker(2, 2, 2)], jobOf(undefined))).toBe(1)
  })

  it("returns undefined when every worker is full or unavailable, and for no workers", () => {
    const balancer = Balancer.leastBusy()
    expect(balancer.pick([worker(0, 4), worker(1, 4), worker(2, 0, 4, false)], jobOf(undefined))).toBeUndefined()
    expect(balancer.pick([], jobOf(undefined))).toBeUndefined()
  })

  it("keeps the warm worker among equally loaded ones", () => {
    const balancer = Balancer.leastBusy()
    const workers = idle([0, 1, 2])
    const picks = Array.from({ length: 4 }, () => balancer.pick(workers, jobOf(undefined)))
    expect(picks).toEqual([0, 0, 0, 0])
  })

  it("moves on by slot, whatever the order of the array, only among the least loaded", () => {
    const balancer = Balancer.leastBusy()
    const slotOf = (workers: ReadonlyArray<Balancer.WorkerView>) =>
      workers[balancer.pick(workers, jobOf(undefined))!]!.slot
    // Slot 0 picked, then busy: the next least loaded slot after it, by slot number, not array position.
    expect(slotOf([worker(2), worker(0), worker(3, 1), worker(1)])).toBe(0)
    expect(slotOf([worker(2), worker(0, 1), worker(3, 1), worker(1)])).toBe(1)
    expect(slotOf([worker(2), worker(0), worker(3, 1), worker(1, 1)])).toBe(2)
    // Past the last slot it wraps around.
    expect(slotOf([worker(2, 1), worker(0), worker(3, 1), worker(1)])).toBe(0)
  })

  it("spreads load when the pool counts what it dispatched", () => {
    const balancer = Balancer.leastBusy()
    const workers = idle([0, 1, 2, 3], 100)
    for (let i = 0; i < 40; i++) {
      const index = balancer.pick(workers, jobOf(undefined))!
      const chosen = workers[index]!
      workers[index] = { ...chosen, inFlight: chosen.inFlight + 1 }
    }
    expect(workers.map((w) => w.inFlight)).toEqual([10, 10, 10, 10])
  })
})

describe("Balancer.roundRobin", () => {
  it("cycles through the workers", () => {
    const balancer = Balancer.roundRobin()
    expect(balancer.name).toBe("roundRobin")
    const workers = [worker(0, 3), worker(1, 0), worker(2, 1)]
    const picks = Array.from({ length: 7 }, () => balancer.pick(workers, jobOf(undefined)))
    expect(picks).toEqual([0, 1, 2, 0, 1, 2, 0])
  })

  it("skips workers without room and continues after the last pick", () => {
    const balancer = Balancer.roundRobin()
    const workers = [worker(0), worker(1), worker(2), worker(3)]
    expect(balancer.pick(workers, jobOf(undefined))).toBe(0)
    expect(balancer.pick(workers, jobOf(undefined))).toBe(1)
    workers[2] = worker(2, 4) // full
    expect(balancer.pick(workers, jobOf(undefined))).toBe(3)
    workers[0] = worker(0, 0, 4, false) // restarting
    expect(balancer.pick(workers, jobOf(undefined))).toBe(1)
    expect(balancer.pick(workers, jobOf(undefined))).toBe(3)
    expect(balancer.pick([worker(0, 4), worker(1, 0, 4, false)], jobOf(undefined))).toBeUndefined()
  })

  it("follows slots, not array positions", () => {
    const balancer = Balancer.roundRobin()
    const workers = [worker(2), worker(0), worker(1)]
    const slots = Array.from({ length: 4 }, () => workers[balancer.pick(workers, jobOf(undefined))!]!.slot)
    expect(slots).toEqual([0, 1, 2, 0])
  })
})

describe("Balancer.keyAffinity", () => {
  const byKey = () => Balancer.keyAffinity((key: string) => key)

  it("maps a key to the same slot every time", () => {
    const balancer = byKey()
    expect(balancer.name).toBe("keyAffinity")
    const workers = idle([0, 1, 2, 3])
    const first = slotsOf(balancer, workers)
    for (let round = 0; round < 3; round++) expect(slotsOf(balancer, workers)).toEqual(first)
  })

  it("maps by slot: another instance and another array order give the same slots", () => {
    const a = slotsOf(byKey(), idle([0, 1, 2, 3]))
    const b = slotsOf(byKey(), idle([3, 1, 0, 2]))
    expect(b).toEqual(a)
  })

  it("ignores load: a busier worker keeps its keys while it has room", () => {
    const balancer = byKey()
    const before = slotsOf(balancer, idle([0, 1, 2, 3], 10))
    const after = slotsOf(balancer, [worker(0, 9, 10), worker(1, 0, 10), worker(2, 5, 10), worker(3, 1, 10)])
    expect(after).toEqual(before)
  })

  it("spreads 1,000 keys over 4 slots, each slot getting at least 10%", () => {
    const counts = [0, 0, 0, 0]
    for (const slot of slotsOf(byKey(), idle([0, 1, 2, 3]))) counts[slot]!++
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(100)
  })

  it("moves only a minority of keys, all to the new slot, when a 5th slot is added", () => {
    const balancer = byKey()
    const before = slotsOf(balancer, idle([0, 1, 2, 3]))
    const after = slotsOf(balancer, idle([0, 1, 2, 3, 4]))
    let moved = 0
    for (let i = 0; i < keys.length; i++) {
      if (after[i] !== before[i]) {
        moved++
        expect(after[i]).toBe(4)
      }
    }
    expect(moved).toBeGreaterThan(0)
    expect(moved).toBeLessThan(keys.length / 2)
  })

  it("moves only the keys of a slot that leaves the set of slots", () => {
    const balancer = byKey()
    const before = slotsOf(balancer, idle([0, 1, 2, 3, 4]))
    const after = slotsOf(balancer, idle([0, 1, 2, 3]))
    for (let i = 0; i < keys.length; i++) {
      expect(after[i]).not.toBe(4)
      if (before[i] !== 4) expect(after[i]).toBe(before[i])
    }
  })

  it("pins the mapping: the hash is stable across processes and releases", () => {
    // Changing these moves every key of a running system to another slot on upgrade.
    const workers = idle([0, 1, 2, 3])
    const balancer = byKey()
    const names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    expect(names.map((name) => workers[balancer.pick(workers, jobOf(name))!]!.slot)).toEqual([3, 3, 1, 0, 1, 2, 1, 2])
  })

  it("returns undefined when the key's slot is full or unavailable, without using another slot", () => {
    const balancer = byKey()
    const workers = idle([0, 1, 2, 3])
    const home = slotsOf(balancer, workers)
    const key = keys[0]!
    const slot = home[0]!
    const index = workers.findIndex((w) => w.slot === slot)
    workers[index] = worker(slot, 4, 4)
    expect(balancer.pick(workers, jobOf(key))).toBeUndefined()
    workers[index] = worker(slot, 0, 4, false)
    expect(balancer.pick(workers, jobOf(key))).toBeUndefined()
    // a key with another home slot is not affected
    const other = keys.find((_, i) => home[i] !== slot)!
    expect(balancer.pick(workers, jobOf(other))).not.toBeUndefined()
    workers[index] = worker(slot, 3, 4)
    expect(workers[balancer.pick(workers, jobOf(key))!]!.slot).toBe(slot)
  })

  it("hashes the key the function extracts from the payload", () => {
    interface Deposit {
      readonly account: string
      readonly amount: number
    }
    const byAccount = Balancer.keyAffinity((deposit: Deposit) => deposit.account)
    const plain = byKey()
    const workers = idle([0, 1, 2])
    const picks = new Set<number | undefined>()
    for (const account of keys.slice(0, 50)) {
      const expected = plain.pick(workers, jobOf(account))
      picks.add(expected)
      expect(byAccount.pick(workers, jobOf({ account, amount: 1 }))).toBe(expected)
      expect(byAccount.pick(workers, jobOf({ account, amount: 500 }))).toBe(expected)
    }
    expect(picks.size).toBe(3)
  })

  it("virtualNodes changes the ring and must be a positive integer", () => {
    const workers = idle([0, 1, 2, 3])
    const one = slotsOf(
      Balancer.keyAffinity((key: string) => key, { virtualNodes: 1 }),
      workers
    )
    const hundred = slotsOf(
      Balancer.keyAffinity((key: string) => key, { virtualNodes: 100 }),
      workers
    )
    expect(hundred).toEqual(slotsOf(byKey(), workers))
    expect(one).not.toEqual(hundred)
    expect(() => Balancer.keyAffinity((key: string) => key, { virtualNodes: 0 })).toThrow(/virtualNodes/)
    expect(() => Balancer.keyAffinity((key: string) => key, { virtualNodes: 1.5 })).toThrow(/virtualNodes/)
  })

  it("returns undefined for no workers", () => {
    expect(byKey().pick([], jobOf("key-1"))).toBeUndefined()
  })
})
