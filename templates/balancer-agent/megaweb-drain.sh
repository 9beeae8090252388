#!/bin/bash
# Rendered by megaweb for {{hostName}}: takes this web node out of the balancers' rotation around
# a change (a site's release switch, an orchestrator restart) and puts it back, through HAProxy's
# agent check (megaweb-balancer-agent). Drained, a node finishes the requests it has and the
# balancers send it no new ones; its health checks keep running.
#
#   megaweb-drain begin NAME   marks NAME; returns once every balancer has been told "drain"
#   megaweb-drain end NAME     removes NAME's mark; with no mark left, returns once every
#                              balancer has been told "ready"
#   megaweb-drain healthy S [PATH...]
#                              waits up to S seconds for the balancers' checks of this node
#                              (those named, of the node's; every one when none is named) to
#                              answer 200 here; exit 1 if one never does
#
# A balancer that does not ask within {{waitSeconds}} s (it is down, say) is not waited for longer:
# whatever it decides, it sends this node nothing.
set -euo pipefail
drain_dir={{drainDir}}
seen_dir={{seenDir}}
balancers=({{balancerWords}})
backends=({{backends}})
checks=({{checkPaths}})

# heard ANSWER SINCE: the last answer to every backend of every balancer was ANSWER, given after SINCE.
heard() {
  local balancer backend line
  for balancer in "${balancers[@]}"; do
    for backend in "${backends[@]}"; do
      line=$(cat "$seen_dir/$balancer-$backend" 2>/dev/null) || return 1
      [ "${line%% *}" = "$1" ] || return 1
      awk -v at="${line#* }" -v since="$2" 'BEGIN { exit !(at > since) }' || return 1
    done
  done
}

wait_heard() {
  local answer=$1 since=$2
  for _ in $(seq $(({{waitSeconds}} * 10))); do
    heard "$answer" "$since" && return 0
    sleep 0.1
  done
  echo "megaweb-drain: not every balancer (${balancers[*]}) heard \"$answer\" within {{waitSeconds}} s; going on" >&2
}

# 3 s a check: the balancers give theirs 2 s (lib/render/haproxy-backends.ts), so a node slower than this here would pass
# this wait and still be out of their pool. A slow start is waited out by repeating the check.
healthy_once() {
  local path
  for path in "$@"; do
    curl -fsS -o /dev/null --max-time 3 --haproxy-protocol -H 'Host: {{healthHost}}' "http://{{checkAddress}}$path" 2>/dev/null || return 1
  done
}

case ${1:-} in
  begin | end) [[ ${2:-} =~ ^[a-z0-9_.-]+$ ]] || { echo "usage: megaweb-drain begin|end NAME" >&2; exit 2; } ;;
esac
case ${1:-} in
  begin)
    install -d -m 0755 "$drain_dir"
    since=$EPOCHREALTIME
    touch "$drain_dir/$2"
    wait_heard drain "$since"
    ;;
  end)
    rm -f "$drain_dir/$2"
    since=$EPOCHREALTIME
    if [ -z "$(ls -A "$drain_dir" 2>/dev/null)" ]; then wait_heard ready "$since"; fi
    ;;
  healthy)
    [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: megaweb-drain healthy SECONDS [PATH...]" >&2; exit 2; }
    seconds=$2
    shift 2
    # A change waits for its own checks: a site's deploy is not held up by another part of the node.
    asked=()
    for path in "${checks[@]}"; do
      if [ $# -eq 0 ] || [[ " $* " == *" $path "* ]]; then asked+=("$path"); fi
    done
    for _ in $(seq $((seconds * 2 + 1))); do
      healthy_once "${asked[@]}" && exit 0
      sleep 0.5
    done
    echo "megaweb-drain: this node's checks ${asked[*]} did not all answer 200 within $seconds s" >&2
    exit 1
    ;;
  *)
    echo "usage: megaweb-drain begin NAME | end NAME | healthy SECONDS [PATH...]" >&2
    exit 2
    ;;
esac
