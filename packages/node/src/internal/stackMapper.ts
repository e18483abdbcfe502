/**
 * Maps stack traces of a bundled child back to the original files.
 *
 * Node's own source-map support parses a bundle's whole map when the bundle
 * loads, which roughly doubles a child's start-up time. Stacks are only needed
 * when a task fails, so the child maps them itself, reading the map the first
 * time it sends a stack.
 *
 * @internal
 */
import { readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { pathToFileURL } from "node:url"

/** A function that rewrites the frames of `bundle` in a stack into their original positions. */
export const stackMapper = (bundle: string): ((stack: string) => string) => {
  const bundleUrl = pathToFileURL(bundle).href
  let map: SourceMap | undefined | null
  const load = (): SourceMap | null => {
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, "utf8")))
      } catch {
        map = null
      }
    }
    return map
  }
  const frame = /(file:\/\/[^\s()]+\.mjs|\/[^\s()]+\.mjs):(\d+):(\d+)/g
  return (stack) =>
    stack.replace(frame, (whole, file: string, line: string, column: string) => {
      if (file !== bundleUrl && file !== bundle) return whole
      const entry = load()?.findEntry(Number(line) - 1, Number(column) - 1)
      if (entry === undefined || !("originalSource" in entry)) return whole
      return `${new URL(entry.originalSource, bundleUrl).href}:${entry.originalLine + 1}:${entry.originalColumn + 1}`
    })
}
