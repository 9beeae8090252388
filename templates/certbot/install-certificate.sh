#!/bin/bash
# Rendered by megaweb on {{host}}: the only command {{issuer}}'s key may run here (root's
# authorized_keys). Reads a certificate chain and its private key (PEM) on stdin for the name the
# issuer gives, one of this stack's Let's Encrypt sites; checks that the key belongs to the
# certificate; puts both where this node's vhosts read them; reloads nginx once `nginx -t` accepts
# them, else puts the previous files back. No certbot here: the issuer renews and pushes again.
set -euo pipefail
. {{config}}
name=${SSH_ORIGINAL_COMMAND:-}
known=
for domain in "${domains[@]}"; do if [ "$domain" = "$name" ]; then known=1; fi; done
if [ -z "$known" ]; then
  echo "megaweb-install-certificate: '$name' is not a Let's Encrypt site of {{host}} (${domains[*]})" >&2
  exit 2
fi
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk -v chain="$work/fullchain.pem" -v key="$work/privkey.pem" \
  '/^-----BEGIN / { out = ($0 ~ /PRIVATE KEY/) ? key : chain } out != "" { print > out }'
if [ ! -s "$work/fullchain.pem" ] || [ ! -s "$work/privkey.pem" ] ||
  [ "$(openssl x509 -in "$work/fullchain.pem" -noout -pubkey 2>/dev/null)" != "$(openssl pkey -in "$work/privkey.pem" -pubout 2>/dev/null)" ]; then
  echo "megaweb-install-certificate: what came for $name is not a certificate with its own key; nothing changed" >&2
  exit 1
fi
live={{live}}/$name
if cmp -s "$work/fullchain.pem" "$live/fullchain.pem" && cmp -s "$work/privkey.pem" "$live/privkey.pem"; then exit 0; fi
install -d -m 755 "$live"
previous=$work/previous
install -d "$previous"
for file in fullchain.pem privkey.pem; do
  if [ -e "$live/$file" ]; then cp -p "$live/$file" "$previous/$file"; fi
done
install -m 644 "$work/fullchain.pem" "$live/fullchain.pem.new"
install -m 600 "$work/privkey.pem" "$live/privkey.pem.new"
mv -f "$live/fullchain.pem.new" "$live/fullchain.pem"
mv -f "$live/privkey.pem.new" "$live/privkey.pem"
if output=$(nginx -t -q 2>&1); then
  systemctl reload nginx
  echo "megaweb-install-certificate: $name, serial $(openssl x509 -in "$live/fullchain.pem" -noout -serial | cut -d= -f2)"
else
  for file in fullchain.pem privkey.pem; do
    if [ -e "$previous/$file" ]; then mv -f "$previous/$file" "$live/$file"; else rm -f "$live/$file"; fi
  done
  echo "megaweb-install-certificate: nginx refused the new certificate of $name; the previous one keeps serving:" >&2
  echo "$output" >&2
  exit 1
fi
