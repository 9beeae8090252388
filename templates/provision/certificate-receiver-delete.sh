# {{host}} no longer takes certificates from {{issuer}}.
if [ -f /root/.ssh/authorized_keys ]; then
  keys=$(mktemp)
  grep -v ' megaweb-certificates@' /root/.ssh/authorized_keys >"$keys" || true
  install -m 600 "$keys" /root/.ssh/authorized_keys
  rm -f "$keys"
fi
rm -f {{files}}
