#!/usr/bin/env bash
# The consumer test: Troupe as a stranger installs it. Packs every package
# (npm pack), creates a fresh app in a temporary folder outside the repository
# ("type": "module", registry dependencies plus the tarballs), installs it,
# type-checks scripts/consumer/app.ts with tsc --strict against the installed
# types (nodenext, then bundler resolution), and runs it on the pinned Node 24
# and on Node 22 (>= 22.19, installed from the npm registry). These are the
# steps docs/getting-started.md gives. Any failure fails the run.
#
#   bash scripts/consumer-test.sh            (KEEP=1 keeps the temporary folder)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/troupe-consumer-XXXXXX")"
if [[ "${KEEP:-}" != 1 ]]; then trap 'rm -rf "$work"' EXIT; fi
echo "consumer test in $work"

# 1. A fresh ES module app (npm init writes "type": "commonjs").
mkdir -p "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm pkg set type=module
cp "$root/scripts/consumer/app.ts" "$root/scripts/consumer/tasks.ts" .

# 2. Pack every published package into it (prepack builds dist/ and writes the published manifest),
#    then install: registry dependencies plus the tarballs.
(cd "$root" && npm pack --silent --workspace packages/core --workspace packages/node --workspace packages/cluster --pack-destination "$work/app" >/dev/null)
npm install --no-audit --no-fund --silent effect@~4.1.0 @effect/platform-node@~4.1.0 @effect/sql-pg@~4.1.5 ./troupe-core-0.1.0.tgz ./troupe-node-0.1.0.tgz ./troupe-cluster-0.1.0.tgz
npm install --no-audit --no-fund --silent --save-dev typescript@~6.0 @types/node@^24
cat >tsconfig.json <<JSON
{
  "compilerOptions": {
    "target": "ES2024",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "types": ["node"],
    "strict": true,
    "verbatimModuleSyntax": true,
    "erasableSyntaxOnly": true,
    "allowImportingTsExtensions": true,
    "noEmit": true
  }
}
JSON
echo "installed: $(node -e 'const l=require("./package-lock.json").packages;console.log(["effect","@effect/platform-node","@effect/sql-pg","@troupe/core","@troupe/node","@troupe/cluster","typescript"].map(n=>n+"@"+l["node_modules/"+n].version).join(" "))')"

# 3. Type-check against the installed .d.ts files: Node's resolution, then a bundler's.
npx tsc --strict
npx tsc --strict --module preserve --moduleResolution bundler
echo "tsc --strict: ok (nodenext and bundler)"

# 4. Run on the pinned Node 24 and on Node 22.
mkdir -p "$work/node22"
npm install --no-audit --no-fund --silent --prefix "$work/node22" "node@^22.19" >/dev/null
for node in "$root/node_modules/.bin/node" "$work/node22/node_modules/.bin/node"; do
  echo "--- $("$node" --version)"
  output="$(timeout 120 "$node" app.ts)"
  echo "$output"
  grep -qx "consumer: ok" <<<"$output"
done
echo "consumer test: ok"
