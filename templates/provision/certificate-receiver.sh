# {{host}} serves certificates {{issuer}} issues: its key may run {{installCommand}} here, as
# root, from {{issuer}}'s address only, and nothing else.
{{{files}}}
install -d -m 700 /root/.ssh
touch /root/.ssh/authorized_keys
keys=$(mktemp)
grep -v ' megaweb-certificates@' /root/.ssh/authorized_keys >"$keys" || true
echo 'restrict,from="{{issuerAddress}}",command="{{installCommand}}" {{issuerKey}} megaweb-certificates@{{issuer}}' >>"$keys"
if ! cmp -s "$keys" /root/.ssh/authorized_keys; then install -m 600 "$keys" /root/.ssh/authorized_keys; fi
rm -f "$keys"
echo "megaweb-certificates host key: $(cut -d ' ' -f 1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
