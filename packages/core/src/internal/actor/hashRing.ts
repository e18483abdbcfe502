/**
 * Consistent hashing of keys onto a set of nodes (the slots of a pool, the
 * hosts of a keyed group).
 *
 * Each node owns `virtualNodes` points on a 32-bit ring; a key belongs to
 * the first point at or after its own hash, wrapping. Removing a node moves
 * only the keys it owned, and keys spread evenly with enough virtual nodes.
 * The hash is 32-bit FNV-1a over the UTF-16 code units followed by
 * MurmurHash3's fmix32 finalizer (FNV-1a alone spreads short, similar strings
 * poorly): stable across processes, platforms and versions.
 *
 * @internal
 */

export interface HashRing {
  /** The node that owns `key`. */
  readonly lookup: (key: string) => number
}

export const hash = (input: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export const make = (nodes: Iterable<number>, virtualNodes = 100): HashRing => {
  const entries: Array<{ readonly point: number; readonly node: number }> = []
  for (const node of nodes) {
    for (let v = 0; v < virtualNodes; v++) entries.push({ point: hash(`${node}#${v}`), node })
  }
  if (entries.length === 0) throw new Error("a hash ring needs at least one node")
  entries.sort((a, b) => a.point - b.point || a.node - b.node)
  const points = Uint32Array.from(entries, (entry) => entry.point)
  const owners = Int32Array.from(entries, (entry) => entry.node)
  return {
    lookup: (key) => {
      const h = hash(key)
      let low = 0
      let high = points.length
      while (low < high) {
        const mid = (low + high) >>> 1
        if (points[mid]! < h) low = mid + 1
        else high = mid
      }
      return owners[low === points.length ? 0 : low]!
    }
  }
}
