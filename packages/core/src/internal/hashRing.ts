/**
 * Consistent hashing of keys onto a fixed set of nodes.
 *
 * Each node owns many points on a 32-bit ring (its virtual nodes); a key
 * belongs to the first point at or after its own hash. Removing a node moves
 * only the keys it owned, and keys spread evenly when there are enough
 * virtual nodes. Hashes are FNV-1a over the UTF-16 code units, so a key maps
 * to the same node in every process.
 *
 * @internal
 */

export interface HashRing {
  /** The node (0 to `nodes - 1`) that owns `key`. */
  readonly lookup: (key: string) => number
}

export const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // Final avalanche (from murmur3's fmix32), so that similar keys land far apart.
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export const make = (nodes: ReadonlyArray<number>, virtualNodes = 128): HashRing => {
  if (nodes.length === 0) throw new Error("a hash ring needs at least one node")
  const points: Array<{ readonly at: number; readonly node: number }> = []
  for (const node of nodes) {
    for (let v = 0; v < virtualNodes; v++) points.push({ at: hash(`node-${node}#${v}`), node })
  }
  points.sort((a, b) => a.at - b.at)
  const positions = Uint32Array.from(points, (point) => point.at)
  const owners = Int32Array.from(points, (point) => point.node)
  return {
    lookup: (key) => {
      const h = hash(key)
      let low = 0
      let high = positions.length
      while (low < high) {
        const mid = (low + high) >>> 1
        if (positions[mid]! < h) low = mid + 1
        else high = mid
      }
      return owners[low === positions.length ? 0 : low]!
    }
  }
}
