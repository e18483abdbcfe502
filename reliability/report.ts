/**
 * Figures of a run: each test prints one line `[figures] <name> <json>`, and
 * appends it to the file named by `RELIABILITY_FIGURES` when that is set
 * (how `docs/reliability.md` gets the figures of the last run).
 */
import { appendFileSync } from "node:fs"

export const report = (name: string, figures: Record<string, unknown>): void => {
  const line = `[figures] ${name} ${JSON.stringify(figures)}`
  console.log(line)
  const file = process.env.RELIABILITY_FIGURES
  if (file !== undefined && file !== "") appendFileSync(file, `${line}\n`)
}
