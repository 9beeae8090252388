#!/bin/bash
# Rendered by megaweb on {{host}}, the web node that issues the stack's Let's Encrypt certificates
# (several issuers would meet Let's Encrypt's limit of 5 duplicate certificates a week). Sends each
# certificate and its key to the other web nodes over SSH, where the key this host made is
# accepted only for megaweb-install-certificate, which checks them and reloads nginx. Run by the
# push step after issuance, and by certbot's deploy hook after a renewal with the renewed name.
#   megaweb-push-certificates [DOMAIN...]    every certificate when no name is given
set -euo pipefail
. {{receiversConfig}}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${domains[@]}")
failed=0
for name in "${names[@]}"; do
  live={{live}}/$name
  if [ ! -s "$live/fullchain.pem" ]; then
    echo "megaweb-push-certificates: no certificate for $name on {{host}} (its certificate step failed?)" >&2
    failed=1
    continue
  fi
  for address in "${receivers[@]}"; do
    # The key goes on stdin: nothing of it is in a command line.
    if ! cat "$live/fullchain.pem" "$live/privkey.pem" |
      ssh -i {{key}} -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes \
        -o UserKnownHostsFile={{knownHosts}} -o GlobalKnownHostsFile=/dev/null "root@$address" "$name"; then
      echo "megaweb-push-certificates: the certificate of $name did not reach $address" >&2
      failed=1
    fi
  done
done
exit "$failed"
