/**
 * Consistent hashing: keys spread evenly, the same key always lands on the
 * same node, and dropping a node moves only the keys it owned.
 */
import { describe, expect, it } from "vitest"
import * as HashRing from "../src/internal/actor/hashRing.ts"

const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`)

describe("hashRing", () => {
  it("spreads keys evenly over the nodes (each within 20% of a fair share)", () => {
    const ring = HashRing.make([0, 1, 2, 3])
    const counts = [0, 0, 0, 0]
    for (const key of keys) counts[ring.lookup(key)]!++
    for (const count of counts) {
      expect(count).toBeGreaterThan(0.8 * (keys.length / 4))
      expect(count).toBeLessThan(1.2 * (keys.length / 4))
    }
  })

  it("maps a key to the same node on every ring built from the same nodes", () => {
    const a = HashRing.make([0, 1, 2])
    const b = HashRing.make([0, 1, 2])
    for (const key of keys.slice(0, 1000)) expect(a.lookup(key)).toBe(b.lookup(key))
  })

  it("moves only the removed node's keys when a node leaves", () => {
    const before = HashRing.make([0, 1, 2, 3])
    const after = HashRing.make([0, 1, 3])
    let moved = 0
    for (const key of keys) {
      const was = before.lookup(key)
      const is = after.lookup(key)
      if (was !== 2) expect(is).toBe(was)
      else moved++
    }
    expect(moved).toBeGreaterThan(0)
  })

  it("refuses an empty ring", () => {
    expect(() => HashRing.make([])).toThrow(/at least one node/)
  })
})
