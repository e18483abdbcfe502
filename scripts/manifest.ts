/**
 * The published manifest of a Troupe package, swapped in around `npm pack`.
 *
 * In this repository a package's `exports` point at its TypeScript sources,
 * so examples run with a plain `node examples/x.ts`, and tests and the type
 * check use the sources, with no build step and no custom condition (Node
 * strips types outside `node_modules` only, which is where a workspace
 * package's real path is). An installed package must point at compiled
 * JavaScript instead, and npm ignores `publishConfig.exports`. So the
 * package's `prepack` script runs `node ../../scripts/manifest.ts pack`,
 * which keeps the package.json as it is in `.package.dev.json` and writes
 * the published one: `publishConfig.exports` as `exports`, no
 * `devDependencies`, no `scripts`. `postpack` runs `... manifest.ts restore`
 * (so does the next `pack`, should a pack fail half-way).
 *
 * Usage, from a package folder: `node ../../scripts/manifest.ts pack|restore`.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"

const manifest = "package.json"
const kept = ".package.dev.json"

const restore = (): void => {
  if (existsSync(kept)) renameSync(kept, manifest)
}

const pack = (): void => {
  restore()
  const text = readFileSync(manifest, "utf8")
  const { publishConfig, devDependencies: _dev, scripts: _scripts, ...rest } = JSON.parse(text)
  const { exports, ...publishRest } = publishConfig ?? {}
  if (exports === undefined) throw new Error(`${process.cwd()}/${manifest}: no publishConfig.exports to publish`)
  const published = { ...rest, exports, ...(Object.keys(publishRest).length > 0 ? { publishConfig: publishRest } : {}) }
  writeFileSync(kept, text)
  writeFileSync(manifest, `${JSON.stringify(published, null, 2)}\n`)
}

const command = process.argv[2]
if (command === "pack") pack()
else if (command === "restore") restore()
else {
  process.stderr.write("usage: node scripts/manifest.ts pack|restore (from a package folder)\n")
  process.exit(2)
}
