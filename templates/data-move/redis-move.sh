# The Redis this host ran as the single box (sites' keys, the app's queue) moves to {{targetHost}}
# once, before any environment file names it there (lib/render/DEPLOY.md, "Growth that keeps the
# data"). The password, the same on both, arrives on stdin, never in a command line.
{{> redisClients}}
{{> retired}}

# A host without the box's Redis (a web host made for a later phase), or whose Redis box-retire.sh
# masked once it was forgotten, has nothing to move; one whose Redis is down has its keys on disk,
# and no environment file may name the new host before they are there.
if ! here PING >/dev/null 2>&1; then
  if [ -e {{root}}/lib/systemd/system/redis-server.service ] && ! retired redis-server.service; then
    echo "megaweb: this host's Redis is installed but does not answer; its keys stay here and nothing moves to {{targetHost}} until it answers" >&2
    exit 1
  fi
  echo "megaweb: no Redis of the single box on this host; nothing to move"
  exit 0
fi
if [ "$(here GET "$moved_key")" = {{targetHost}} ]; then
  echo "megaweb: this host's Redis moved to {{targetHost}} already; nothing to move"
  exit 0
fi
mapfile -t databases < <(keyspace here | awk '$2 > 0 { print substr($1, 3) }')
if [ ${#databases[@]} -eq 0 ]; then
  echo "megaweb: this host's Redis holds no keys; nothing to move"
  exit 0
fi
if [ -n "$(keyspace target | awk '$2 > 0')" ]; then
  echo "megaweb: Redis on {{targetHost}} has keys already and this host's Redis has not moved there; both are kept, empty one and run again" >&2
  exit 1
fi

{{> redisQuote}}
password_quoted=$(quote <<<"$password")
as_mover() { redis-cli -h 127.0.0.1 -p {{sourcePort}} --user megaweb-move --no-auth-warning "$@"; }

# The window without writes starts here: the clients' user (the default one, whose password the
# sites and the app hold) loses its write commands, which a connection already open feels at its
# next command. The copy runs as a user of its own, removed at the end.
printf 'ACL SETUSER megaweb-move on %s ~* &* +@all\nACL SETUSER default -@write\n' "$(quote <<<">$password")" | here >/dev/null
refused_since=$EPOCHREALTIME
finish() { here ACL DELUSER megaweb-move >/dev/null; }
refuse() {
  here ACL SETUSER default +@all >/dev/null
  finish
  echo "megaweb: $*; this copy takes writes again" >&2
  exit 1
}

# MIGRATE COPY, 100 keys at a time per database: this copy keeps every key.
migrations() {
  local keys
  while IFS= read -r keys; do printf 'MIGRATE {{targetHost}} {{targetPort}} "" %s 60000 COPY AUTH %s KEYS %s\n' "$1" "$password_quoted" "$keys"; done
}
for db in "${databases[@]}"; do
  answers=$(here -n "$db" --scan | quote | xargs -d '\n' -n 100 echo | migrations "$db" | as_mover -n "$db") || answers="redis-cli exited with an error"
  # One line per kind of refusal, not one per 100 keys: the error Pulumi shows holds it all.
  errors=$(grep -v -x -e OK -e NOKEY <<<"$answers" | sort -u | head -n 3 | tr '\n' ' ' || true)
  [ -z "$errors" ] || refuse "copying Redis database $db to {{targetHost}} failed: ${errors% }"
done

# Every key without an expiry is on both sides (keys with one may lapse on either while this runs).
if [ "$(persistent here)" != "$(persistent target)" ]; then
  refuse "Redis on {{targetHost}} has other key counts ($(persistent target | tr '\n' ' ')) than here ($(persistent here | tr '\n' ' '))"
fi
keys=$(keyspace here | awk '{ keys += $2 } END { print keys + 0 }')
as_mover SET "$moved_key" {{targetHost}} >/dev/null
# The refusal outlives a restart of this Redis (a reboot of the box): a file redis.conf includes
# last gives the clients' user the rules the move left it, its password as the SHA-256 ACL rules take.
refusal={{root}}/etc/redis/megaweb.d/moved.conf
printf 'user default on #%s ~* &* +@all -@write\n' "$(printf '%s' "$password" | sha256sum | cut -d ' ' -f 1)" >"$refusal.new"
chown --reference={{root}}/etc/redis/megaweb.d/secrets.conf "$refusal.new"
chmod 640 "$refusal.new"
mv -f "$refusal.new" "$refusal"
grep -qxF "include $refusal" {{root}}/etc/redis/redis.conf || printf 'include %s\n' "$refusal" >>{{root}}/etc/redis/redis.conf
finish
echo "megaweb: Redis is on {{targetHost}} ($keys keys, counts equal, $(awk -v start="$refused_since" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }') s); this copy stays, read-only, until forgotten"
