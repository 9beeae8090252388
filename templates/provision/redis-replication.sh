# Redis's part in replication behind Sentinel. Two lines arrive on stdin: the masterauth file and
# the Sentinels' password. Nothing here names a primary once a Sentinel knows one: the Sentinels
# are asked, and only a server that was never pointed anywhere is pointed at the plan's primary.
IFS= read -r masterauth || true
IFS= read -r sentinel_password || [ -n "$sentinel_password" ]
{{{files}}}
put_file {{secretsFile}} 0640 redis:redis < <(printf '%s\n' "$masterauth")
for include in {{settingsFile}} {{secretsFile}}; do
  grep -qxF "include $include" {{redisConf}} || printf 'include %s\n' "$include" >>{{redisConf}}
done
forget_previous
redis_password=${masterauth#masterauth }
self={{self}}
plan_primary={{planPrimary}}
redis() { REDISCLI_AUTH=$redis_password redis-cli -h 127.0.0.1 -p {{port}} "$@"; }

# Applied to the running server too, and persisted by Redis itself, so the copies Sentinel's
# CONFIG REWRITE left in redis.conf hold today's values.
changes=$(grep -hv -e '^#' -e '^$' {{settingsFile}} {{secretsFile}} | while read -r key value; do
  [ "$(redis --raw CONFIG GET "$key" | sed -n 2p)" = "$value" ] || printf 'CONFIG SET %s "%s"\n' "$key" "$value"
done)
if [ -n "$changes" ]; then
  output=$(printf '%s\nCONFIG REWRITE\n' "$changes" | redis)
  if grep -q '^ERR' <<<"$output"; then
    echo "megaweb: Redis refused a setting: $(grep '^ERR' <<<"$output")" >&2
    exit 1
  fi
  echo "megaweb: set on the running Redis: $(cut -d' ' -f3 <<<"$changes" | paste -sd' ')"
fi

replication=$(redis INFO replication | tr -d '\r')
if [ "$(sed -n 's/^role://p' <<<"$replication")" = slave ]; then
  echo "megaweb: Redis follows $(sed -n 's/^master_host://p' <<<"$replication"):$(sed -n 's/^master_port://p' <<<"$replication") (left as it is: only Sentinel moves a replica)"
  exit 0
fi
primary=""
for sentinel in {{sentinels}}; do
  primary=$(REDISCLI_AUTH=$sentinel_password redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw SENTINEL get-master-addr-by-name {{masterName}} 2>/dev/null | paste -sd:) || primary=""
  [[ $primary =~ ^[^:]+:[0-9]+$ ]] && break
  primary=""
done
if [ -n "$primary" ]; then
  if [ "$primary" = "$self" ]; then
    echo "megaweb: Redis is the primary the Sentinels name"
    exit 0
  fi
  # An old primary that came back: the Sentinels would demote it too.
  target=$primary
elif [ "$self" = "$plan_primary" ]; then
  echo "megaweb: Redis is the first primary (no Sentinel names one yet)"
  exit 0
elif [ "$(sed -n 's/^master_repl_offset://p' <<<"$replication")" = 0 ] && [ "$(redis DBSIZE)" = 0 ]; then
  target=$plan_primary
else
  echo "megaweb: no Sentinel answers and this Redis holds data: not pointing it anywhere" >&2
  exit 1
fi
output=$(printf 'REPLICAOF %s %s\nCONFIG REWRITE\n' "${target%:*}" "${target##*:}" | redis)
if grep -q '^ERR' <<<"$output"; then
  echo "megaweb: Redis refused to follow $target: $output" >&2
  exit 1
fi
echo "megaweb: Redis follows $target"
