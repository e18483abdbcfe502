/**
 * The cluster example, run as a newcomer would: the client on one machine
 * (`--local`, no database) and on a one-runner cluster print the same
 * balances, and `pool.ts` the same squares from a local pool and from the
 * runner's pool; `demo.ts` (`npm run demo:cluster`) loses no acknowledged deposit,
 * applies none twice and activates no account twice across a runner's SIGKILL.
 */
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { makeCluster } from "../../packages/cluster/test/fixtures/harness.ts"
import { runScript } from "../../packages/node/test/fixtures/script.ts"

const example = (name: string) => fileURLToPath(new URL(`../cluster/${name}.ts`, import.meta.url))
const balances = "alice: 10\nbob: 10\ncarol: 10\n"
const squares = "squares: 1, 4, 9, 16, 25, 36, 49, 64, 81, 100\nsum: 385\nrefused: Negative\n"

it("client.ts --local: the accounts in a Keyed group on this machine", async () => {
  const { code, stdout } = await runScript(example("client"), ["--local"])
  expect(code).toBe(0)
  expect(stdout).toBe(balances)
})

it("pool.ts --local: the tasks on a pool of worker processes on this machine", async () => {
  const { code, stdout } = await runScript(example("pool"), ["--local"])
  expect(code).toBe(0)
  expect(stdout).toBe(squares)
})

it("client.ts and pool.ts --database: the same programs, the accounts and the tasks on a cluster's runner", async () => {
  const cluster = await makeCluster(example("runner"))
  try {
    await cluster.start("r1")
    const { code, stdout } = await runScript(example("client"), ["--database", cluster.database.url])
    expect(code).toBe(0)
    expect(stdout).toBe(balances)
    const pool = await runScript(example("pool"), ["--database", cluster.database.url])
    expect(pool.code, pool.stderr).toBe(0)
    expect(pool.stdout).toBe(squares)
  } finally {
    await cluster.close()
  }
}, 180_000)

it("demo.ts: no acknowledged deposit lost, none applied twice, no duplicate activation across a runner's SIGKILL", async () => {
  const { code, stdout, stderr } = await runScript(example("demo"), [], 240_000)
  expect(code, stderr).toBe(0)
  const line = stdout.trimEnd().split("\n").at(-1) ?? ""
  const match =
    /^deposits_acked=(\d+) balance_total=(\d+) lost=(\d+) applied_twice=(\d+) failover_ms=(\d+) duplicate_activations=(\d+)$/.exec(
      line
    )
  expect(match, stdout).not.toBeNull()
  const [acked, total, lost, appliedTwice, failoverMs, duplicates] = match!.slice(1).map(Number)
  expect(lost).toBe(0)
  expect(appliedTwice).toBe(0)
  expect(duplicates).toBe(0)
  expect(total).toBeGreaterThanOrEqual(acked!)
  expect(acked).toBeGreaterThanOrEqual(400)
  expect(failoverMs).toBeGreaterThan(0)
}, 240_000)
