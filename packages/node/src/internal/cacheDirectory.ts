/**
 * Troupe's private cache directory, where the parent keeps worker bundles
 * (bundle.ts) and a child keeps Node's compile cache (compileCache.ts).
 *
 * A child runs what it finds there, so the directory must be private:
 * `TROUPE_BUNDLE_DIR` when set, else `$XDG_CACHE_HOME/troupe` (or
 * `~/.cache/troupe`), else `<tmpdir>/troupe-bundles-<uid>`, created with
 * mode 0700 and used only while it is a directory (not a symlink) owned by
 * the current user and writable by no one else.
 *
 * @internal
 */
import { lstatSync, mkdirSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join, resolve } from "node:path"

/**
 * `directory`, created owner-only if missing, when it is a directory (not a
 * symlink) owned by this user that no one else may write to; else `undefined`.
 */
export const privateDirectory = (directory: string): string | undefined => {
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 })
    const stats = lstatSync(directory)
    const uid = process.getuid?.()
    if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid) || (stats.mode & 0o022) !== 0) {
      return undefined
    }
    return directory
  } catch {
    return undefined
  }
}

/** The private cache directory to use now, or `undefined` (children then start unbundled, without a compile cache). */
export const privateCacheDirectory = (): string | undefined => {
  const chosen = process.env.TROUPE_BUNDLE_DIR
  if (chosen) return privateDirectory(resolve(chosen))
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), ".cache")
  return (
    privateDirectory(join(cacheHome, "troupe")) ??
    privateDirectory(join(tmpdir(), `troupe-bundles-${process.getuid?.() ?? "user"}`))
  )
}
