/** The raw fork worker of the payload probe: `[id, value]` in, the same out, over `process.send`. */
process.on("message", (message) => process.send?.(message))
process.on("disconnect", () => process.exit(0))
