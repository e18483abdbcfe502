#!/usr/bin/env bash
# The suite on a saturated machine: starts one busy-loop process per core
# (two on the CI machine), runs the README's test command while they spin,
# and stops them however the run ends. A test that passes here asserts what
# it means to (a hang bound, an event order), not how fast the machine is.
#
#   npm run test:loaded                 (npm test under load)
#   npm run test:loaded -- reliability  (the reliability suite too)
set -euo pipefail
cd "$(dirname "$0")/.."

busy=()
stop_busy() { for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_busy EXIT INT TERM
cores="$(node -p 'require("node:os").availableParallelism()')"
loops="${LOADED_LOOPS:-$(( cores < 2 ? 2 : cores ))}"
for _ in $(seq "$loops"); do
  node -e 'for (;;) {}' &
  busy+=("$!")
done
echo "test:loaded: ${loops} busy loops on ${cores} cores (pids ${busy[*]})"

npm test
if [[ "${1:-}" == "reliability" ]]; then npm run test:reliability; fi
