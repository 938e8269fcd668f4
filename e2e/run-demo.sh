#!/usr/bin/env bash
# Runs the console's browser test (console.spec.mjs) against `toolgate demo`:
# builds the binary, starts the demo on free ports with a known admin token,
# reads the agent URL and grant token it prints, and points the test at the
# admin listener, which serves the console.
#
#   e2e/run-demo.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[ -d e2e/node_modules/playwright-core ] || (cd e2e && npm ci --no-audit --no-fund)
[ -d interop/node_modules/@modelcontextprotocol/sdk ] || echo "note: interop/node_modules lacks the MCP SDK (npm ci in interop/); the MCP steps will be skipped" >&2

go build -o "$work/toolgate" ./cmd/toolgate

mkdir -p "$work/demo"
token="tga_e2e$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TOOLGATE_ADMIN_TOKEN=$token "$work/toolgate" demo --listen 127.0.0.1:0 --admin 127.0.0.1:0 --dir "$work/demo" \
  >"$work/demo.out" 2>"$work/demo.err" &
pids+=($!)
for _ in $(seq 1 200); do
  grep -q 'Agent token' "$work/demo.out" 2>/dev/null && break
  sleep 0.1
done
grep -q 'Agent token' "$work/demo.out" || { echo "the demo did not start:" >&2; cat "$work/demo.err" >&2; exit 1; }
agent_url=$(awk '/MCP endpoint/ {print $3}' "$work/demo.out")
grant_token=$(awk '/Agent token/ {print $3}' "$work/demo.out")
admin_url=$(awk '/Readiness/ {print $2}' "$work/demo.out" | sed 's#/readyz$##')

console_url=$admin_url
echo "console $console_url · agent $agent_url" >&2

cd "$root/e2e"
status=0
TOOLGATE_ADMIN_URL=$console_url TOOLGATE_ADMIN_TOKEN=$token \
TOOLGATE_AGENT_URL=$agent_url TOOLGATE_GRANT_TOKEN=$grant_token \
  node --test --test-reporter=spec console.spec.mjs || status=$?
if [ $status -ne 0 ]; then
  echo "--- demo log (last 40 lines)" >&2
  tail -40 "$work/demo.err" >&2
fi
exit $status
