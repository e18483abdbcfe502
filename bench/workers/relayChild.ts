/**
 * The raw baseline of actor-to-actor messaging: a forked child that plays
 * one side of a rally through its parent with `process.send`. The server
 * (`{ serve: total }`) sends `n + 1`, and on each number that comes back
 * sends the next, until `total` messages went both ways; then `{ done }`.
 * The other side answers each number with the next.
 */
process.on("message", (message) => {
  const frame = message as { serve?: number; n?: number }
  if (frame.serve !== undefined) {
    total = frame.serve
    process.send!({ n: 1 })
  } else if (frame.n !== undefined) {
    if (total === undefined) process.send!({ n: frame.n + 1 })
    else if (frame.n >= total) process.send!({ done: frame.n })
    else process.send!({ n: frame.n + 1 })
  }
})
let total: number | undefined
process.on("disconnect", () => process.exit(0))
