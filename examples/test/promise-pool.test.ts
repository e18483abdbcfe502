/** Runs examples/promise-pool.ts as a newcomer would and checks what it prints. */
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { runScript } from "../../packages/node/test/fixtures/script.ts"

it("promise-pool.ts: run, map, 1,000 at once, a typed rejection, an aborted call, offer refused by a full queue, then closed", async () => {
  const { code, stdout } = await runScript(fileURLToPath(new URL("../promise-pool.ts", import.meta.url)), [])
  expect(code).toBe(0)
  expect(stdout).toBe(
    "run: 49\nmap: [1,4,9,16,25]\n1000 at once, sum: 332833500\nrejected: Negative n=-4\naborted: the client went away\noffer: QueueFull\nafter the abort: aborted, 4, offer: 9\nclosed\n"
  )
})
