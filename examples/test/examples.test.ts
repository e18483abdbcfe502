/**
 * Runs every example as a newcomer would (`node examples/<name>.ts`) and
 * checks what it prints.
 */
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { runScript } from "../../packages/node/test/fixtures/script.ts"

const runExample = (name: string, args: ReadonlyArray<string> = [], timeoutMs?: number) =>
  runScript(fileURLToPath(new URL(`../${name}.ts`, import.meta.url)), args, timeoutMs)

it("process.ts: the child's message, then the parent's", async () => {
  const { code, stdout } = await runExample("process")
  expect(code).toBe(0)
  expect(stdout).toBe("This is a message from a multiprocessing.\nMain process continues.\n")
})

it("four-processes.ts: four numbered lines, in any order", async () => {
  const { code, stdout } = await runExample("four-processes")
  expect(code).toBe(0)
  expect(stdout.trimEnd().split("\n").sort()).toEqual(["Process 1: 1", "Process 2: 2", "Process 3: 3", "Process 4: 4"])
})

it("pool-squares.ts: the squares, exactly", async () => {
  const { code, stdout } = await runExample("pool-squares")
  expect(code).toBe(0)
  expect(stdout).toBe("Squared numbers: [1, 4, 9, 16, 25]\n")
})

const lastLine = (stdout: string) => stdout.trimEnd().split("\n").at(-1) ?? ""

it("crash-recovery.ts: every task succeeds while workers are SIGKILLed", async () => {
  const { code, stdout } = await runExample("crash-recovery")
  expect(code).toBe(0)
  const match = /^tasks=2000 succeeded=2000 failed=0 hung=0 restarts=(\d+)$/.exec(lastLine(stdout))
  expect(match, lastLine(stdout)).not.toBeNull()
  expect(Number(match![1])).toBeGreaterThan(0)
})

it("crash-recovery.ts --retries 0: every task settles, and each failure is a typed crash", async () => {
  const { code, stdout } = await runExample("crash-recovery", ["--retries", "0"])
  expect(code).toBe(0)
  const match = /^tasks=2000 succeeded=(\d+) failed=(\d+) hung=0 restarts=(\d+)$/.exec(lastLine(stdout))
  expect(match, lastLine(stdout)).not.toBeNull()
  const [succeeded, failed] = [Number(match![1]), Number(match![2])]
  expect(succeeded + failed).toBe(2000)
  expect(failed).toBeGreaterThan(0)
  expect(stdout).toContain(`failures by type: WorkerCrashed=${failed}\n`)
})

it("supervised-actors.ts: the counter reaches 100 while its flaky sibling crashes and restarts", async () => {
  const { code, stdout } = await runExample("supervised-actors")
  expect(code).toBe(0)
  const match = /^counter=100 flaky_restarts=(\d+) tree_ok=true$/.exec(lastLine(stdout))
  expect(match, lastLine(stdout)).not.toBeNull()
  const restarts = Number(match![1])
  expect(restarts).toBeGreaterThanOrEqual(1)
  // One line per exit and per restart of flaky, printed as they happen; the counter never restarts.
  expect(stdout.match(/^restart: flaky /gm)?.length).toBe(restarts)
  expect(stdout).not.toMatch(/^(exited|restart): counter /m)
  // A dynamic child: started on the running tree, asked, terminated and deleted.
  expect(stdout).toContain("dynamic: session-1 answered 5, children after delete: counter,flaky\n")
})

it("application-tree.ts: a pool, a keyed group and a dynamic supervisor start and stop as one tree", async () => {
  const { code, stdout } = await runExample("application-tree")
  expect(code).toBe(0)
  expect(stdout).toContain("started: images (pool), carts (keyed), connections (supervisor)\n")
  expect(stdout).toContain("images: thumbnails [1,4,9,16]\n")
  expect(stdout).toContain("carts: alice has 3 items, bob has 1\n")
  // Each connection read its typed start arguments in its own process.
  expect(stdout).toMatch(/^connections: db\.internal:5432 \(pid \d+\), cache\.internal:6379 \(pid \d+\)$/m)
  // Reverse start order; 2 pool workers, 2 keyed hosts and 2 connections, all gone.
  expect(lastLine(stdout)).toBe("stop_order=connections,carts,images processes=6 all_reaped=true")
})

// Chaos kills children for as long as the stream runs, and the run is slower on a busy machine:
// these bounds only catch a hang.
it("pipeline.ts: no record is lost while pool workers and actor hosts are SIGKILLed", {
  timeout: 240_000
}, async () => {
  const { code, stdout } = await runExample("pipeline", [], 180_000)
  expect(code).toBe(0)
  const match = /^records=10000 processed=10000 lost=0 restarts=(\d+)$/.exec(lastLine(stdout))
  expect(match, lastLine(stdout)).not.toBeNull()
  expect(Number(match![1])).toBeGreaterThanOrEqual(1)
  expect(stdout).not.toContain("failures by type")
})

it("observability.ts: every section of the report has data; the trace nests the task spans under the request", async () => {
  const { code, stdout } = await runExample("observability")
  expect(code).toBe(0)
  expect(lastLine(stdout)).toBe("report_ok=true")
  const trace = stdout.slice(stdout.indexOf("trace of the request:\n"))
  const request = /^( *)request [\d.]+ ms$/m.exec(trace)
  expect(request, trace).not.toBeNull()
  // Each child-process span sits one level below the request, and the handler's own spans one level below it.
  const depth = request![1]!.length
  const task = new RegExp(
    `^ {${depth + 2}}troupe\\.task Thumbnail [\\d.]+ ms troupe\\.worker=\\d troupe\\.pid=\\d+`,
    "gm"
  )
  expect(trace.match(task)?.length, trace).toBe(2)
  expect(trace.match(new RegExp(`^ {${depth + 4}}thumbnail\\.(decode|encode) `, "gm"))?.length, trace).toBe(4)
  expect(trace.indexOf("troupe.task Thumbnail")).toBeGreaterThan(trace.indexOf("request "))
})

it("shared-memory.ts: threads sum into one shared Int32Array; processes refuse it with why", async () => {
  const { code, stdout } = await runExample("shared-memory", [], 120_000)
  expect(code).toBe(0)
  const [threads, processes] = stdout.trimEnd().split("\n")
  expect(threads).toBe("total=31996000 expected=31996000")
  expect(processes).toBe(
    "on processes: ArgumentEncodeError: payload.total: shared memory (an Int32Array over a SharedArrayBuffer): only a worker thread shares memory with its parent; a process would receive {} (run the task on NodeThread.layer; actor messages never share memory)"
  )
}, 180_000)

it("queue-producer-consumer.ts: two producer and two consumer processes through one IpcQueue, nothing lost", async () => {
  const { code, stdout } = await runExample("queue-producer-consumer", [], 120_000)
  expect(code).toBe(0)
  expect(lastLine(stdout)).toBe("produced=10000 consumed=10000 lost=0")
}, 180_000)

it("process-context.ts: each task names its worker, the parent lists both, and the unclosed pool does not hold the exit", async () => {
  const { code, stdout } = await runExample("process-context")
  expect(code).toBe(0)
  const lines = stdout.trimEnd().split("\n")
  expect(lines).toHaveLength(5)
  lines.slice(0, 4).forEach((line, i) => {
    expect(line).toMatch(
      new RegExp(`^task WhoAmI #${i + 1} \\(attempt 1\\) ran in squares-[01], pid \\d+, child of \\d+$`)
    )
  })
  expect(lines[4]).toMatch(/^main \(pid \d+\) has 2 live children: squares-[01], squares-[01]$/)
})

it("ping-pong.ts: two actors in two processes exchange 10,000 messages", async () => {
  const { code, stdout } = await runExample("ping-pong")
  expect(code).toBe(0)
  const match = /^messages=(\d+) seconds=([\d.]+) rate=(\d+)\/s$/.exec(lastLine(stdout))
  expect(match, lastLine(stdout)).not.toBeNull()
  expect(Number(match![1])).toBe(10_000)
  expect(Number(match![3])).toBeGreaterThan(0)
})

it("manager-dict.ts: four processes count words into one SharedMap; no update is lost", async () => {
  const { code, stdout } = await runExample("manager-dict")
  expect(code).toBe(0)
  expect(stdout).toContain("top words: the=125 dog=75 fox=50 is=50\n")
  expect(lastLine(stdout)).toBe("words=13 total=575 expected=575")
})

it("pipe.ts: messages both ways; the child exits and the parent's receive ends typed", async () => {
  const { code, stdout } = await runExample("pipe")
  expect(code).toBe(0)
  const lines = stdout.trimEnd().split("\n")
  expect(lines.slice(0, 3)).toEqual([
    "parent received: HELLO",
    "parent received: HOW ARE YOU",
    "parent received: WHAT IS A PIPE"
  ])
  expect(lines[3]).toMatch(/^parent received: goodbye from child \d+$/)
  expect(lastLine(stdout)).toBe("the child exited; receive now fails with PipeClosed (PeerClosed)")
})

it("barrier.ts: three processes pass three phases; a SIGKILLed waiting party breaks the barrier", async () => {
  const { code, stdout } = await runExample("barrier")
  expect(code).toBe(0)
  // Every worker passes the three phases, in order (lines of different workers may interleave in stdout).
  for (const worker of [1, 2, 3]) {
    const phases = [
      ...stdout.matchAll(new RegExp(`^worker ${worker} passed phase (\\d) \\(arrived [123] of 3\\)$`, "gm"))
    ]
    expect(phases.map((m) => Number(m[1]))).toEqual([1, 2, 3])
  }
  expect(stdout).toContain("worker 1 was SIGKILLed while waiting; worker 2 got BrokenBarrier\n")
  expect(lastLine(stdout)).toBe("phases=3 passed=9 broken_after_kill=true")
})

it("shared-counter.ts: four processes add to a SharedRef under an IpcLock; a holder SIGKILLed inside abandons it", async () => {
  const plain = await runExample("shared-counter", [], 180_000)
  expect(plain.code, plain.stderr).toBe(0)
  expect(lastLine(plain.stdout)).toBe("counter=4000")
  // The second process dies holding the lock between its 501st read and write: 3 x 1000 + 500.
  const killed = await runExample("shared-counter", ["--kill"], 180_000)
  expect(killed.code, killed.stderr).toBe(0)
  expect(lastLine(killed.stdout)).toBe("counter=3500 abandoned=1")
}, 400_000)
