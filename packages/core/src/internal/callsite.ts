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
}

type PrepareStackTrace = (error: Error, callSites: ReadonlyArray<CallSite>) => unknown

const toModuleUrl = (fileName: string): string =>
  /^[a-z][a-z0-9+.-]*:/i.test(fileName) && !/^[a-z]:[\\/]/i.test(fileName)
    ? fileName
    : `file://${encodeURI(fileName.replaceAll("\\", "/").replace(/^(?=[a-z]:)/i, "/"))}`

/**
 * The URL of the module whose code called `fn`, or `undefined` when the
 * runtime gives no file name (eval, a REPL, a bundle without file names).
 *
 * @internal
 */
export const callerModuleUrl = (fn: Function): string | undefined => {
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
    const fileName = Array.isArray(sites) ? (sites[0] as CallSite | undefined)?.getFileName() : undefined
    return fileName ? toModuleUrl(fileName) : undefined
  } finally {
    ErrorConstructor.prepareStackTrace = previousPrepare
    ErrorConstructor.stackTraceLimit = previousLimit
  }
}
