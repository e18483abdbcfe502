/**
 * Markdown tables padded the way the repository's formatter (Biome) prints
 * them, so that the generated docs stay formatted: the first column
 * left-aligned, the others right-aligned.
 */

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((cell, i) => Math.max(3, cell.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`
  const rule = `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`
  return [line(header), rule, ...rows.map((row) => line(header.map((_, i) => row[i] ?? "")))].join("\n")
}
