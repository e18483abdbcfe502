/**
 * Troupe inside a long-running HTTP service: a pool built once at start,
 * request handlers that hand CPU work to it, readiness, and a graceful
 * shutdown on SIGTERM (stop accepting, finish the requests in flight, then
 * close the pool: no worker outlives the service). See docs/embedding.md.
 *
 *     node examples/http-service.ts [--port 8080] [--runtime managed|main]
 *
 * `--runtime managed` (the default) runs the pool in a `ManagedRuntime`
 * behind a plain `node:http` server, as in an existing Node service;
 * `--runtime main` runs everything as one Effect under `NodeRuntime.runMain`.
 *
 * Routes: `GET /fib?n=30` computes a Fibonacci number in a worker (3 retries,
 * so a worker killed mid-task costs the caller nothing but time);
 * `GET /ready` is 200 once every worker is up (503 before);
 * `GET /stats` gives the workers' pids and states.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Pool, Task } from "@troupe/core"
import { NodePool } from "@troupe/node"
import { Cause, Console, Effect, Exit, FiberSet, ManagedRuntime, Runtime, Schema } from "effect"

const fibonacci = (n: number): number => (n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2))

/** The CPU work: pure, so safe to run again after a crash. */
export const Fib = Task.make("Fib", {
  payload: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 40 })),
  success: Schema.Number,
  retries: 3,
  handler: (n) => Effect.sync(() => fibonacci(n))
})

/** What the routes need from the runtime, whichever runs the pool. */
interface Backend {
  readonly fib: (n: number) => Promise<number>
  readonly stats: () => Promise<Pool.Stats>
  readonly isReady: () => boolean
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" })
  res.end(JSON.stringify(body))
}

const route = (backend: Backend) => (req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? "/", "http://localhost")
  if (url.pathname === "/ready") return send(res, backend.isReady() ? 200 : 503, { ready: backend.isReady() })
  if (url.pathname === "/stats") {
    return void backend.stats().then(
      (stats) => send(res, 200, { workers: stats.workers, restarts: stats.restarts }),
      (error) => send(res, 500, { error: String(error) })
    )
  }
  if (url.pathname === "/fib") {
    const n = Number(url.searchParams.get("n"))
    return void backend.fib(n).then(
      (value) => send(res, 200, { n, value }),
      // A bad `n` is a typed RequestValidationError; anything else means the service is in trouble.
      (error) => send(res, error?._tag === "RequestValidationError" ? 400 : 500, { error: String(error) })
    )
  }
  send(res, 404, { error: "not found" })
}

/** Starts listening; resolves with the port (0 picks a free one). */
const listen = (server: Server, port: number) =>
  new Promise<number>((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : port)
    })
  })

/** Stops accepting, ends idle keep-alive connections, and resolves once every request in flight is answered. */
const closeGracefully = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
  })

const poolOptions = { size: 2, backend: "process" } as const

/** The pool in a `ManagedRuntime`, behind a plain `node:http` server. */
const withManagedRuntime = async (port: number) => {
  const runtime = ManagedRuntime.make(NodePool.layer(poolOptions))
  let ready = false
  const server = createServer(
    route({
      fib: (n) => runtime.runPromise(Pool.apply(Fib, n)),
      stats: () => runtime.runPromise(Pool.Pool.use((pool) => pool.stats)),
      isReady: () => ready
    })
  )
  const bound = await listen(server, port)
  console.log(`listening on http://127.0.0.1:${bound}`)
  await runtime.runPromise(Pool.awaitReady)
  ready = true
  console.log("ready")
  process.once("SIGTERM", async () => {
    ready = false
    await closeGracefully(server) // drain: every accepted request is answered
    await runtime.dispose() // then close: the pool stops its workers and reaps them
    console.log("stopped")
  })
}

/** The same service as one Effect under `NodeRuntime.runMain`, which interrupts it on SIGTERM. */
const withRunMain = (port: number) =>
  Effect.gen(function* () {
    let ready = false
    // Runs handler Effects from the server's callbacks, with the pool in their context.
    const runPromise = yield* FiberSet.makeRuntimePromise<Pool.Pool>()
    const server = createServer(
      route({
        fib: (n) => runPromise(Pool.apply(Fib, n)),
        stats: () => runPromise(Pool.Pool.use((pool) => pool.stats)),
        isReady: () => ready
      })
    )
    // Finalizers run in reverse: the server closes (draining) before the FiberSet and the pool do.
    const bound = yield* Effect.acquireRelease(
      Effect.promise(() => listen(server, port)),
      () => Effect.promise(() => closeGracefully(server))
    )
    yield* Console.log(`listening on http://127.0.0.1:${bound}`)
    yield* Pool.awaitReady
    ready = true
    yield* Console.log("ready")
    yield* Effect.addFinalizer(() => Effect.sync(() => (ready = false)))
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(NodePool.layer(poolOptions)), Effect.ensuring(Console.log("stopped")))

if (import.meta.main) {
  const { values } = parseArgs({
    options: { port: { type: "string", default: "8080" }, runtime: { type: "string", default: "managed" } }
  })
  const port = Number(values.port)
  if (values.runtime === "main") {
    NodeRuntime.runMain(withRunMain(port), {
      // SIGTERM is how a service normally ends: exit 0, not Effect's 130 for an interrupted main.
      teardown: (exit, onExit) =>
        Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
    })
  } else await withManagedRuntime(port)
}
