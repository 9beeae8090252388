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
# A file or flag named on the command line runs as asked, in one vitest.
if (($# > 0)); then exec npx vitest run "$@"; fi
# The machine tests run beside the others, not after them: they spend most of their time waiting on
# their machines, and one after the other the whole suite took 77 min, past CI's hour. Lines from
# the machine tests carry a prefix; each run leaves its counts for one line over both at the end.
summaries=$(mktemp -d)
trap 'rm -rf "$summaries"' EXIT
export MEGAWEB_SUMMARY_DIR=$summaries
(
  npx vitest run --project machines 2>&1
  echo $? >"$summaries/machines.status"
) | sed -u 's/^/[machines] /' &
machines=$!
status=0
npx vitest run --project unit || status=$?
wait "$machines"
machines_status=$(cat "$summaries/machines.status")
((machines_status == 0)) || status=$machines_status
# shellcheck disable=SC2016 # the script is JavaScript: its template literals are not the shell's
node -e '
  const { readdirSync, readFileSync } = require("node:fs");
  const dir = process.argv[1];
  const runs = readdirSync(dir).filter((name) => name.endsWith(".json")).map((name) => JSON.parse(readFileSync(`${dir}/${name}`, "utf8")));
  const sum = (key) => runs.reduce((total, run) => total + run[key], 0);
  // A vitest that died before its reporter ran left no counts: it failed.
  console.log(`\n${sum("passed")} passed, ${sum("failed") + 2 - runs.length} failed, ${sum("skipped")} skipped`);
' "$summaries"
exit "$status"
