/**
 * CPU time of a library's import, first thing in a fresh process (issue 16):
 * `node --import ./distHooks.mjs importCpu.ts @troupe/core @troupe/node`.
 * Prints `{"cpuMs", "wallMs"}`: user + system time of the whole process
 * (V8's helper threads included) while the specifiers are imported in turn.
 * Unlike the wall time of the `import` probe, CPU time does not count the
 * time spent waiting for a core, so it holds on a loaded machine. Run it
 * with `NODE_COMPILE_CACHE=dir` to see what the compile cache gives.
 */
import { performance } from "node:perf_hooks"

const before = process.cpuUsage()
const t0 = performance.now()
for (const specifier of process.argv.slice(2)) await import(specifier)
const used = process.cpuUsage(before)
console.log(JSON.stringify({ cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t0 }))
