#!/usr/bin/env bash
# The one command that takes a fresh Debian 12 machine to a full test run: every setup step
# under scripts/setup/ (each idempotent, in name order), then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/setup/*.sh; do
  echo "== setup: $step"
  bash "$step"
done
echo "== tests"
exec npx vitest run "$@"
