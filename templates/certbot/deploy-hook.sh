#!/bin/sh
# Rendered by megaweb: certbot runs every file in renewal-hooks/deploy/ after it renews a
# certificate (certbot.timer runs `certbot renew`). nginx reads certificates only when it loads
# its config, so it reloads, and only once `nginx -t` accepts the config: a refused config keeps
# the previous certificate serving. certbot itself exits 0 when a hook fails, so the failure is
# kept in {{failureMarker}}, which fails certbot.service (see its megaweb.conf drop-in) until a reload succeeds.
# TLS ends on the web hosts in every phase (load balancers pass HTTPS through), so nothing else
# reloads; on the web node that issues for the others, the renewed certificate goes to them too
# ({{pushCommand}}, there only when the stack has other web nodes).
set -u
lineage=${RENEWED_LINEAGE:-}
if output=$(nginx -t -q 2>&1) && output=$(systemctl reload nginx 2>&1) &&
  { [ ! -x {{pushCommand}} ] || output=$({{pushCommand}} "${lineage##*/}" 2>&1); }; then
  rm -f {{failureMarker}}
else
  mkdir -p "$(dirname {{failureMarker}})"
  printf '%s: the renewed certificate of %s is not served:\n%s\n' "$(date -Is)" "$lineage" "$output" >{{failureMarker}}
  echo "$output" >&2
  exit 1
fi
