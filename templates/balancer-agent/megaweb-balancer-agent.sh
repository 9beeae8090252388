#!/bin/bash
# Rendered by megaweb for {{hostName}}: the HAProxy agent check of this web node. The balancers
# ({{balancerList}}) connect every {{intervalSeconds}} s; megaweb-balancer-agent@.service runs this once
# per connection, with the connection as stdin and stdout and the balancer's address in REMOTE_ADDR.
# It answers "drain" while megaweb-drain holds a mark in {{drainDir}}, else "ready", and records
# per balancer and backend (the line HAProxy's agent-send opens with) what it last told it, so
# megaweb-drain knows when every backend of every balancer has heard.
set -u
backend=
read -r -t 1 backend || true
answer=ready
for mark in {{drainDir}}/*; do
  if [ -e "$mark" ]; then
    answer=drain
    break
  fi
done
# "drain" sets the node's weight to 0; "ready" alone would leave it there, so the weight comes back with it.
if [ "$answer" = drain ]; then echo drain; else echo "ready 100%"; fi
peer=${REMOTE_ADDR:-}
peer=${peer#::ffff:}
[[ $peer =~ ^[0-9a-f.:]+$ && $backend =~ ^[a-z_]+$ ]] || exit 0
seen={{seenDir}}/$peer-$backend
printf '%s %s\n' "$answer" "$EPOCHREALTIME" >"$seen.new" && mv -f "$seen.new" "$seen"
