/**
 * A first-in, first-out queue that takes from its head in constant time.
 *
 * `Array.prototype.shift` moves every remaining element, so draining a queue
 * of n entries with it costs O(n²): a `map` over a million items sends a
 * child runs by the hundred thousand. This queue reads from a head index
 * instead, and compacts its array only when the taken part is most of it.
 *
 * @internal
 */

/** Below this many taken entries, the array is not compacted. */
const compactAfter = 1024

export class Fifo<A> {
  private entries: Array<A | undefined> = []
  private head = 0
  /** How many entries are waiting: a field (read on every pump), written only by the methods below. */
  length = 0

  push(entry: A): void {
    this.entries.push(entry)
    this.length++
  }

  /** Puts `entries` back before the oldest entry, keeping their order. */
  pushFront(entries: ReadonlyArray<A>): void {
    if (entries.length === 0) return
    this.length += entries.length
    if (this.head >= entries.length) {
      this.head -= entries.length
      for (let i = 0; i < entries.length; i++) this.entries[this.head + i] = entries[i]
    } else {
      this.entries = [...entries, ...this.entries.slice(this.head)]
      this.head = 0
    }
  }

  /** The oldest entry, without taking it. */
  peek(): A | undefined {
    return this.head < this.entries.length ? this.entries[this.head] : undefined
  }

  /** Takes the oldest entry. */
  shift(): A | undefined {
    if (this.head === this.entries.length) return undefined
    this.length--
    const entry = this.entries[this.head]
    this.entries[this.head++] = undefined
    if (this.head === this.entries.length) {
      this.entries.length = 0
      this.head = 0
    } else if (this.head > compactAfter && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
    return entry
  }

  /** Takes every entry. */
  clear(): void {
    this.entries = []
    this.head = 0
    this.length = 0
  }

  /** Removes the oldest entry that matches (a linear search: for rare removals). */
  remove(matches: (entry: A) => boolean): A | undefined {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i] as A
      if (matches(entry)) {
        this.entries.splice(i, 1)
        this.length--
        return entry
      }
    }
    return undefined
  }
}
