# The copy of the single box's Redis (the sites' keys, the app's queue) that its move to
# {{targetHost}} left on this host, refusing writes, is emptied once the new copy answers and holds
# keys (lib/render/DEPLOY.md, "Growth that keeps the data"), so a later move finds nothing to move.
# The password, the same on both, arrives on stdin, never in a command line.
{{> redisClients}}
{{> redisQuote}}
keys_in() { keyspace "$@" | awk '{ keys += $2 } END { print keys + 0 }'; }
run_id() { "$@" INFO server | tr -d '\r' | sed -n 's/^run_id://p'; }
kept() {
  echo "megaweb: this host's Redis keeps its keys: $*" >&2
  exit 1
}

# redis-cli fails only when nothing listens; an error reply (a wrong password) still exits 0.
if ! answer=$(here PING 2>/dev/null); then
  echo "megaweb: no Redis of the single box on this host; nothing to forget"
  exit 0
fi
[ "$answer" = PONG ] || kept "it answers PING with ${answer%%$'\n'*}"
keys=$(keys_in here)
if [ "$keys" = 0 ]; then
  echo "megaweb: this host's Redis holds no keys; nothing to forget"
  exit 0
fi
moved_to=$(here GET "$moved_key")
if [ "$moved_to" != {{targetHost}} ]; then
  kept "$moved_key names ${moved_to:-no host}, not {{targetHost}}: its keys have not moved there"
fi
target_answer=$(target PING 2>&1 || true)
[ "$target_answer" = PONG ] || kept "Redis on {{targetHost}} does not answer PING (${target_answer%%$'\n'*})"
# Two roles given the same address would make the new copy this one.
[ "$(run_id here)" != "$(run_id target)" ] || kept "{{targetHost}} is this host's own Redis"
target_keys=$(keys_in target)
[ "$target_keys" != 0 ] || kept "Redis on {{targetHost}} holds no keys"

# The clients' user keeps its writes refused (a client still pointed here fails rather than writes
# where nobody reads), so the keys go as a user of the step's own, removed at the end.
printf 'ACL SETUSER megaweb-forget on %s ~* &* +@all\n' "$(quote <<<">$password")" | here >/dev/null
trap 'here ACL DELUSER megaweb-forget >/dev/null' EXIT
flushed=$(redis-cli -h 127.0.0.1 -p {{sourcePort}} --user megaweb-forget --no-auth-warning FLUSHALL)
[ "$flushed" = OK ] || kept "FLUSHALL answered ${flushed%%$'\n'*}"
echo "megaweb: dropped this host's Redis keys ($keys; Redis on {{targetHost}} holds $target_keys); it stays, empty and refusing writes"
