/**
 * The work every contender's workers do, shared so that all of them run
 * exactly the same code: a square, a fixed CPU loop, and a square that exits
 * the worker on every 50th input.
 */

export const square = (n: number): number => n * n

/** A deterministic CPU loop; the caller calibrates `iterations` to about 20 ms. */
export const spin = (iterations: number): number => {
  let x = 0
  for (let i = 0; i < iterations; i++) x += Math.sqrt(i + x * 1e-9)
  return x > -1 ? iterations : 0
}

/** `n * n`, but ends the worker (process or thread) with code 1 when `n % 50 === 0`. */
export const crash = (n: number): number => {
  if (n % 50 === 0) process.exit(1)
  return n * n
}

/** Raw workers' operation codes. */
export const op = { square: 0, spin: 1, crash: 2 } as const

export const perform = (code: number, arg: number): number =>
  code === op.square ? square(arg) : code === op.spin ? spin(arg) : crash(arg)
