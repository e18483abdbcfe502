/**
 * The work every contender's workers do, shared so that all of them run
 * exactly the same code: a square, a fixed CPU loop, and a square that exits
 * the worker on every 50th input.
 *
 * Plain JavaScript, as are the raw and third-party pools' worker scripts: a
 * worker then starts as a deployed one does, without Node's type stripper
 * (loading it costs a child about 50-100 ms of CPU, which no installed pool's
 * worker pays).
 */

/** @param {number} n */
export const square = (n) => n * n

/**
 * A deterministic CPU loop; the caller calibrates `iterations` to about 20 ms.
 * @param {number} iterations
 */
export const spin = (iterations) => {
  let x = 0
  for (let i = 0; i < iterations; i++) x += Math.sqrt(i + x * 1e-9)
  return x > -1 ? iterations : 0
}

/**
 * `n * n`, but ends the worker (process or thread) with code 1 when `n % 50 === 0`.
 * @param {number} n
 */
export const crash = (n) => {
  if (n % 50 === 0) process.exit(1)
  return n * n
}

/** Raw workers' operation codes. */
export const op = /** @type {const} */ ({ square: 0, spin: 1, crash: 2 })

/**
 * @param {number} code
 * @param {number} arg
 */
export const perform = (code, arg) => (code === op.square ? square(arg) : code === op.spin ? spin(arg) : crash(arg))
