/**
 * Loads `@troupe/core` and `@troupe/node` as an installed copy does: from
 * the compiled `dist/*.js`, through the exports the packages publish
 * (`publishConfig.exports`; in this repository their `exports` point at the
 * TypeScript sources, which Node strips on every load). `node --import
 * ./distHooks.mjs measure.ts ...` (what `firstTask.ts` runs) redirects
 * `@troupe/x` to `packages/x/dist/index.js` and `@troupe/x/Y` to
 * `packages/x/dist/Y.js`, for the program and for the packages' own imports
 * of each other. Needs `npm run build` first; fails at once when a `dist`
 * is missing.
 *
 * Plain JavaScript: pool workers inherit the parent's `--import`, and a
 * TypeScript hook would load Node's type stripper into every worker, which
 * an installed copy's workers never load.
 */
import { existsSync } from "node:fs"
import { registerHooks } from "node:module"

const packages = new URL("../packages/", import.meta.url)
const troupe = /^@troupe\/(core|node)(?:\/(.+))?$/

for (const name of ["core", "node"]) {
  if (!existsSync(new URL(`${name}/dist/index.js`, packages))) {
    throw new Error(`packages/${name}/dist is missing: run \`npm run build\` first`)
  }
}

registerHooks({
  resolve: (specifier, context, nextResolve) => {
    const match = troupe.exec(specifier)
    if (match === null) return nextResolve(specifier, context)
    const [, name, subpath] = match
    if (subpath === "package.json") return nextResolve(specifier, context)
    return { url: new URL(`${name}/dist/${subpath ?? "index"}.js`, packages).href, shortCircuit: true }
  }
})
