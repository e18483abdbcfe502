/**
 * Finds the module that called a function, from the V8 call-site API.
 *
 * `Task.make` uses it to remember which module defines a task, so that a
 * child process can import that module and find the handler with no extra
 * configuration, the way Python's spawn start method re-imports `__main__`.
 *
 * @internal
 */

interface CallSite {
  readonly getFileName: () => string | null | undefined
  readonly getLineNumber: () => number | null
  readonly getColumnNumber: () => number | null
}

/**
 * Where a platform that loads code from a bundle registers the mapper from
 * the bundle's positions to the original files (a stack-trace rewriter):
 * inside a bundle, the caller's file is the bundle, not the module a child
 * should import.
 *
 * @internal
 */
export const bundleMapperKey: unique symbol = Symbol.for("@troupe/core/bundleStackMapper")

const bundleMapper = (): ((stack: string) => string) | undefined =>
  (globalThis as { [bundleMapperKey]?: (stack: string) => string })[bundleMapperKey]

/**
 * The original module of a position in a bundle, when a mapper is registered
 * (it maps a `file:line:column` position and leaves others unchanged).
 */
const originalModule = (url: string, line: number | null, column: number | null): string => {
  const map = bundleMapper()
  if (map === undefined || line === null || column === null) return url
  return map(`${url}:${line}:${column}`).replace(/:\d+:\d+$/, "")
}

type PrepareStackTrace = (error: Error, callSites: ReadonlyArray<CallSite>) => unknown

const toModuleUrl = (fileName: string): string =>
  /^[a-z][a-z0-9+.-]*:/i.test(fileName) && !/^[a-z]:[\\/]/i.test(fileName)
    ? fileName
    : `file://${encodeURI(fileName.replaceAll("\\", "/").replace(/^(?=[a-z]:)/i, "/"))}`

/**
 * The URL of the module whose code called `fn`, computed on first use (in a
 * bundle that reads its source map, which a child that never asks should not
 * pay for at start-up), or `undefined` when the runtime gives no file name
 * (eval, a REPL, a bundle without file names).
 *
 * @internal
 */
export const callerModuleUrl = (fn: Function): (() => string) | undefined => {
  const ErrorConstructor = Error as unknown as {
    prepareStackTrace?: PrepareStackTrace | undefined
    stackTraceLimit: number
    captureStackTrace?: (target: object, constructorOpt?: Function) => void
  }
  if (ErrorConstructor.captureStackTrace === undefined) return undefined
  const previousPrepare = ErrorConstructor.prepareStackTrace
  const previousLimit = ErrorConstructor.stackTraceLimit
  try {
    ErrorConstructor.stackTraceLimit = 1
    ErrorConstructor.prepareStackTrace = (_, callSites) => callSites
    const holder: { stack?: unknown } = {}
    ErrorConstructor.captureStackTrace(holder, fn)
    const sites = holder.stack
    const site = Array.isArray(sites) ? (sites[0] as CallSite | undefined) : undefined
    const fileName = site?.getFileName()
    if (site === undefined || !fileName) return undefined
    const url = toModuleUrl(fileName)
    const line = site.getLineNumber()
    const column = site.getColumnNumber()
    let module: string | undefined
    return () => (module ??= originalModule(url, line, column))
  } finally {
    ErrorConstructor.prepareStackTrace = previousPrepare
    ErrorConstructor.stackTraceLimit = previousLimit
  }
}
