#!/usr/bin/env bash
# `npm run demo`: the embedded default stack (stacks/Pulumi.local.yaml) for real: boots a local
# machine, runs `pulumi up` of the single box with its sites, and prints the URLs.
# `npm run demo -- horizontal`: the same sites on the horizontal phase (stacks/Pulumi.horizontal.yaml):
# an HAProxy load balancer, three web nodes, MySQL, Redis and a worker, seven machines.
# `npm run demo:destroy` removes the machines, the stacks' state and the workspaces of every phase.
#
#   bash scripts/demo.sh [up|prepare|destroy] [single|horizontal|ha]
#
# `ha` (`npm run demo -- ha`) is the high-availability phase on eleven local machines
# (stacks/Pulumi.ha.yaml): an HAProxy pair sharing a virtual address, 2 web, Redis primary + 2
# replicas each with a Sentinel beside it, MariaDB primary + 2 replicas, 1 worker.
#
# `prepare` stops after the machine and the stack exist (the end-to-end test drives Pulumi itself).
# The stack lives in a workspace under .megaweb/ (git-ignored): a Pulumi project whose program is
# this repository's stacks/, a copy of the stack file pointed at the machine, and a file backend.
# Overrides: MEGAWEB_DEMO_SET (machine set, default demo), MEGAWEB_DEMO_STACK (default local),
# MEGAWEB_WORKSPACE, MEGAWEB_STACK_FILE, MEGAWEB_DEMO_ROLES (a role per machine, default web),
# PULUMI_CONFIG_PASSPHRASE.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
action=${1:-up}
phase=${2:-single}
# Per phase: the machine set, the stack, its committed file, and a role per machine in order.
case $phase in
  single) defaults=(demo local "$repo/stacks/Pulumi.local.yaml" web) ;;
  horizontal) defaults=(demoho horizontal "$repo/stacks/Pulumi.horizontal.yaml" "loadbalancer,web,web,web,mysql,redis,worker") ;;
  ha) defaults=(demoha ha "$repo/stacks/Pulumi.ha.yaml" "loadbalancer,loadbalancer,web,web,redis,redis,redis,mysql,mysql,mysql,worker") ;;
  *) echo "demo: unknown phase \"$phase\" (single, horizontal or ha)" >&2; exit 1 ;;
esac
machine_set=${MEGAWEB_DEMO_SET:-${defaults[0]}}
stack=${MEGAWEB_DEMO_STACK:-${defaults[1]}}
workspace=${MEGAWEB_WORKSPACE:-$repo/.megaweb/$stack}
stack_file=${MEGAWEB_STACK_FILE:-${defaults[2]}}
# The single box is one machine planned as `web`; other phases name a role per machine, in order.
machine_roles=${MEGAWEB_DEMO_ROLES:-${defaults[3]}}
machine_count=$(tr ',' '\n' <<<"$machine_roles" | wc -l)
export PATH="${MEGAWEB_CACHE:-/var/cache/megaweb}/bin:$PATH"
export PULUMI_BACKEND_URL="file://$workspace/state"
export PULUMI_SKIP_UPDATE_CHECK=true
# The demo's only secret is the key of a throwaway local machine; real stacks set their own passphrase.
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-megaweb-local-only-not-a-secret}

die() { echo "demo: $*" >&2; exit 1; }

check_prerequisites() {
  [ "$(uname -s)" = Linux ] || die "needs Linux: the demo boots a local machine with systemd-nspawn (this is $(uname -s))"
  [ "$(id -u)" -eq 0 ] || die "needs root: it creates a network bridge, nftables rules and a systemd-nspawn machine (run with sudo)"
  command -v apt-get >/dev/null || die "needs a Debian-based host (apt-get) to install systemd-container, debootstrap and nftables"
}

# What a fresh clone lacks (host packages, node_modules, the Pulumi engine), through the same
# idempotent setup steps the tests use. `prepare` skips this: its caller, the test run, has done it,
# and a reinstall of node_modules under running tests would pull it from under them.
install_tools() {
  local step
  for step in scripts/setup/*.sh; do
    bash "$step" >/dev/null || die "setup step $step failed (run it alone to see why)"
  done
}

require_engine() {
  command -v pulumi >/dev/null || die "the Pulumi engine is missing: run bash scripts/setup/30-engine.sh (or install the official CLI)"
}

prepare() {
  [ -d "/var/lib/megaweb/machines/$machine_set" ] || bash scripts/machines.sh up --set "$machine_set" --count "$machine_count" >/dev/null
  mkdir -p "$workspace/state"
  # tsx (esbuild) loads the TypeScript program; the runtime's own `typescript: true` is ts-node, which
  # type-checks the whole program on every run (npm run lint does that once): bench:program measured
  # a no-change up at 121.9 s with ts-node and 90.5 s with tsx (medians of 3, same machine and run).
  printf 'name: megaweb\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n    nodeargs: --import tsx\nmain: %s/stacks/index.ts\n' "$repo" >"$workspace/Pulumi.yaml"
  local config=$workspace/Pulumi.$stack.yaml salt=""
  [ -f "$config" ] && salt=$(grep '^encryptionsalt:' "$config" || true)
  # Start from the committed stack file every time, so edits to it reach the demo.
  # shellcheck disable=SC1003 # sed's `$a\` appends a final newline when the file lacks one
  { sed -e '$a\' "$stack_file"; [ -z "$salt" ] || echo "$salt"; } >"$config.new"
  mv "$config.new" "$config"
  (cd "$workspace" && pulumi stack select --create --non-interactive "$stack" >/dev/null)
  (cd "$workspace" && bash "$repo/scripts/machines.sh" configure --set "$machine_set" --stack "$stack" --role "$machine_roles")
  # A balancer pair on existing hosts shares an address of their network: the set's /24, .200.
  if [[ ,$machine_roles, == *,loadbalancer,loadbalancer,* ]]; then
    (cd "$workspace" && pulumi config set --stack "$stack" --path megaweb:loadBalancer.virtualAddress "$(cat "${MEGAWEB_MACHINES:-/var/lib/megaweb/machines}/$machine_set/prefix").200/24")
  fi
}

# The orchestrator joins the single box's demo here, not in the committed stack file, so the
# single-box e2e (which prepares from that file) keeps testing the sites alone;
# test/e2e/orchestrator.test.ts covers the app on the same stack. The ha stack file has the app
# already. Wherever the stack has it, the app is built and its token made once per workspace and
# kept out of the command line: pulumi reads it from stdin and stores it encrypted.
enable_app() {
  if [ "$phase" = single ]; then
    (cd "$workspace" && pulumi config set --stack "$stack" --path 'megaweb:app.domain' orchestrator.megaweb.test)
  fi
  (cd "$workspace" && pulumi config get --stack "$stack" megaweb:app >/dev/null 2>&1) || return 0
  npm run --silent build -w app >/dev/null || die "building the orchestrator (npm run build -w app) failed"
  local token=$workspace/api-token
  [ -s "$token" ] || (umask 077 && openssl rand -hex 24 >"$token")
  (cd "$workspace" && pulumi config set --stack "$stack" --secret megaweb:apiToken <"$token")
}

# The demo's PHP sites run examples/sample-php-app with its migration, queue worker and scheduler.
# The demo has no git server the machines could clone from, so the app goes to each web and worker
# machine as an archive, the same bytes for the same sources (sorted, dated 0, gzip without name or
# time), at a path carrying its hash: running the demo again deploys nothing, an edit to the app
# deploys it.
# Like the app, this joins in `up` only: the end-to-end tests prepare and deploy code of their own.
ship_sample_app() {
  local archive=$workspace/sample-php-app.tar.gz hash remote n=0 address i
  local -a addresses roles sites settings=()
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude=./vendor --exclude=./.env \
    -C "$repo/examples/sample-php-app" -c . | gzip -n >"$archive"
  hash=$(sha256sum "$archive" | cut -c1-12)
  remote=/srv/megaweb-demo/sample-php-app-$hash.tar.gz
  local set_dir=${MEGAWEB_MACHINES:-/var/lib/megaweb/machines}/$machine_set
  mapfile -t addresses < <(grep -o '"address":"[^"]*"' "$set_dir/hosts.json" | cut -d'"' -f4)
  IFS=, read -r -a roles <<<"$machine_roles"
  for address in "${addresses[@]}"; do
    # Web hosts serve the sites; worker hosts run the sites' queue workers from the same release.
    if [ "${roles[$n]}" = web ] || [ "${roles[$n]}" = worker ]; then
      ssh -i "$set_dir/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        "root@$address" "install -D -m 0644 /dev/stdin $remote" <"$archive" || die "copying the sample app to $address failed"
    fi
    n=$((n + 1))
  done
  # The app needs a database, so it goes to the sites that have one.
  # shellcheck disable=SC2016 # the single quotes hold a JavaScript program, not shell
  mapfile -t sites < <(cd "$workspace" && pulumi config get --stack "$stack" megaweb:sites |
    node -e 'JSON.parse(require("fs").readFileSync(0, "utf8")).forEach((site, i) => site.database && console.log(i))')
  for i in "${sites[@]}"; do
    settings+=(--plaintext "megaweb:sites[$i].code.archive=$remote" --plaintext "megaweb:sites[$i].code.migrate=php bin/console migrate"
      --plaintext "megaweb:sites[$i].workers[0].name=queue" --plaintext "megaweb:sites[$i].workers[0].command=php bin/console queue:work"
      --plaintext "megaweb:sites[$i].schedule[0].name=scheduler" --plaintext "megaweb:sites[$i].schedule[0].cron=* * * * *"
      --plaintext "megaweb:sites[$i].schedule[0].command=php bin/console schedule:run")
  done
  (cd "$workspace" && pulumi config set-all --stack "$stack" --path "${settings[@]}")
}

up() {
  local started=$SECONDS
  prepare
  ship_sample_app
  enable_app
  (cd "$workspace" && pulumi up --yes --skip-preview --non-interactive --stack "$stack")
  echo
  echo "demo: up in $((SECONDS - started))s. The sites, served by the local machine(s):"
  # shellcheck disable=SC2016 # the single quotes hold a JavaScript program, not shell
  (cd "$workspace" && pulumi stack output --stack "$stack" --json) | node -e '
    const { endpoint, urls } = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const [domain, url] of Object.entries(urls)) console.log(`  ${url}   curl -H "Host: ${domain}" http://${endpoint}/`);'
  echo "demo: remove it all with: npm run demo:destroy"
}

destroy() {
  # The machine goes first: the stack's delete steps would only tidy a machine that is about to vanish.
  bash scripts/machines.sh down --set "$machine_set"
  if [ -d "$workspace/state" ]; then
    (cd "$workspace" && pulumi stack rm --yes --force --non-interactive "$stack" >/dev/null 2>&1) || true
  fi
  rm -rf "$workspace"
  echo "demo: removed the machine set $machine_set and the stack $stack"
}

# `npm run demo:destroy` names no phase: it removes the demo of every phase. The end-to-end tests
# name their own set and stack (MEGAWEB_DEMO_SET), so they remove only those.
destroy_all() {
  if [ -n "${MEGAWEB_DEMO_SET:-}" ] || [ -n "${2:-}" ]; then destroy; return; fi
  local each
  for each in single horizontal ha; do bash "$0" destroy "$each"; done
}

case $action in
  up) check_prerequisites; install_tools; require_engine; up ;;
  prepare) check_prerequisites; require_engine; prepare ;;
  destroy) [ "$(id -u)" -eq 0 ] || die "needs root to remove the machines"; destroy_all "$@" ;;
  *) die "usage: scripts/demo.sh [up|prepare|destroy] [single|horizontal|ha]" ;;
esac
