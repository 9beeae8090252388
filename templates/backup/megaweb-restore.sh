#!/bin/bash
# Rendered by megaweb: puts this host's data back from a restic snapshot of megaweb-backup.
#   megaweb-restore list                     the snapshots, newest last
#   megaweb-restore site DOMAIN [SNAPSHOT]   the site's database and files, as far as this host holds them
#   megaweb-restore app [SNAPSHOT]           the app's database
#   megaweb-restore redis [SNAPSHOT]         Redis: the snapshot's keys replace the primary's, nothing restarts
#   megaweb-restore all [SNAPSHOT]           everything this host holds
# SNAPSHOT is an id from `list`, or latest (the default). Files come back exactly as they were:
# what was added since is removed (logs, sessions and tmp excepted).
# A database is dropped and loaded from its dump with the binary log on, so the replicas of a
# primary follow the restore. Only on the writable primary: root writes past read_only, so on a
# replica the load would fork its history from the primary's and stop replication; on a read-only
# server this refuses before it touches anything.
# Redis is never stopped (a stopped primary is what makes the Sentinels fail over): a private
# redis-server loads the snapshot's RDB on a unix socket, and its keys are copied, TTLs kept,
# into the running primary after a FLUSHALL. Those are ordinary writes, so they replicate. On a
# replica (after a failover) they go to the primary it follows.
set -euo pipefail
. {{config}}
if [ -n "$secrets_env" ]; then set -a; . "$secrets_env"; set +a; fi
umask 077
restic() { command restic "${restic_options[@]}" "$@"; }

usage() {
  sed -n '3,7s/^# //p' "$0" >&2
  exit 2
}
die() {
  echo "megaweb-restore: $*" >&2
  exit 1
}
[ $# -ge 1 ] || usage
what=$1
shift
if [ "$what" = list ]; then
  restic snapshots --host "$snapshot_host"
  exit 0
fi
domain=
if [ "$what" = site ]; then
  [ $# -ge 1 ] || usage
  domain=$1
  shift
  if [ -z "${site_database[$domain]+x}" ] && [ -z "${site_paths[$domain]+x}" ]; then
    echo "megaweb-restore: $domain is not a site this host backs up (${!site_paths[*]} ${!site_database[*]})" >&2
    exit 2
  fi
fi
case "$what" in site | app | redis | all) ;; *) usage ;; esac
[ $# -le 1 ] || usage
if [ "$what" = app ] && [ -z "$app_database" ]; then
  echo "megaweb-restore: this host holds no app database" >&2
  exit 2
fi
if [ "$what" = redis ] && [ -z "$redis_port" ]; then
  echo "megaweb-restore: this host holds no Redis" >&2
  exit 2
fi

# Refuses unless MariaDB here is the writable primary: read-only, or following a source, it is a
# replica (or a former primary a failover fenced), and a load as root would break replication.
require_writable_mariadb() {
  local state read_only self status source
  state=$(mariadb --socket="$mariadb_socket" --user=root --batch --skip-column-names \
    -e "SELECT @@read_only + 0, CONCAT(IFNULL(@@report_host, ''), ':', @@port)") || die "MariaDB does not answer: nothing was restored"
  IFS=$'\t' read -r read_only self <<<"$state"
  status=$(mariadb --socket="$mariadb_socket" --user=root -e 'SHOW SLAVE STATUS\G') || die "MariaDB does not answer: nothing was restored"
  source=$(sed -n 's/^ *Master_Host: //p' <<<"$status" | head -n 1)
  [ "$read_only" = 1 ] || [ -n "$source" ] || return 0
  state="read-only (read_only=$read_only) and follows no primary: a former primary that a promotion fenced"
  [ -z "$source" ] || state="a replica of $source:$(sed -n 's/^ *Master_Port: //p' <<<"$status" | head -n 1) (read_only=$read_only)"
  local todo="restore on the writable primary"
  # report_host is set where megaweb runs replication: the address promote --to takes.
  if [ -n "${self%:*}" ]; then
    todo="make this server the primary first with \`megaweb-mysql-replication promote --to $self\` (it fences the current primary and waits for this one to catch up), then run megaweb-restore again"
  fi
  die "MariaDB here is $state. Loading a dump here would write into a replica and break replication, so nothing was restored: $todo."
}

# Where the snapshot's keys go: this server when it is the primary, else the primary it follows.
# Sets redis_host and redis_primary_port.
find_redis_primary() {
  local info role link
  info=$(redis-cli -h 127.0.0.1 -p "$redis_port" INFO replication | tr -d '\r') || die "Redis on port $redis_port does not answer: nothing was restored"
  role=$(sed -n 's/^role://p' <<<"$info")
  case $role in
    master)
      redis_host=127.0.0.1 redis_primary_port=$redis_port
      ;;
    slave)
      redis_host=$(sed -n 's/^master_host://p' <<<"$info")
      redis_primary_port=$(sed -n 's/^master_port://p' <<<"$info")
      link=$(sed -n 's/^master_link_status://p' <<<"$info")
      [ "$link" = up ] || die "Redis here is a replica of $redis_host:$redis_primary_port, which it cannot reach (master_link_status:$link): nothing was restored; once the Sentinels name a primary this replica follows, run megaweb-restore again"
      echo "megaweb-restore: Redis here is a replica of $redis_host:$redis_primary_port (a failover moved the primary): the keys go to that primary, and every replica, this one too, follows it"
      ;;
    *) die "Redis on port $redis_port answers INFO replication without a role: nothing was restored" ;;
  esac
}

export REDISCLI_AUTH
if [ -n "$redis_port" ]; then REDISCLI_AUTH=$(sed -n 's/^requirepass //p' "$redis_secrets"); fi
case "$what" in
  site) if [ -n "${site_database[$domain]:-}" ]; then require_writable_mariadb; fi ;;
  app) require_writable_mariadb ;;
  redis) find_redis_primary ;;
  all)
    if [ ${#databases[@]} -gt 0 ]; then require_writable_mariadb; fi
    if [ -n "$redis_port" ]; then find_redis_primary; fi
    ;;
esac

# One snapshot id for every part, so "latest" cannot move between the database and the files.
snapshot=$(restic snapshots --host "$snapshot_host" --json "${1:-latest}" | grep -o '"short_id":"[0-9a-f]*"' | tail -n 1 | cut -d '"' -f 4)
[ -n "$snapshot" ] || die "no snapshot ${1:-latest} of $snapshot_host"
work=$(mktemp -d "$(dirname "$staging")/restore.XXXXXX")
snapshot_redis=
cleanup() {
  if [ -n "$snapshot_redis" ]; then
    kill "$snapshot_redis" 2>/dev/null || true
    wait "$snapshot_redis" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

restore_database() {
  local database=$1
  restic dump "$snapshot" "$staging/mariadb/$database.sql" | mariadb --socket="$mariadb_socket" --user=root
  echo "megaweb-restore: database $database from snapshot $snapshot"
}

restore_files() {
  local path=$1 excludes=() pattern
  # Anchored at the site's directory, so only its own logs, sessions and tmp are kept as they are.
  for pattern in "${file_excludes[@]}"; do
    if [[ $pattern == "$path"/* ]]; then excludes+=(--exclude "/${pattern#"$path"/}"); fi
  done
  restic restore --quiet "$snapshot" --target "$work" --include "$path"
  [ -d "$work$path" ] || { echo "megaweb-restore: snapshot $snapshot holds no $path" >&2; return 1; }
  install -d "$path"
  rsync -a --delete "${excludes[@]}" "$work$path/" "$path/"
  echo "megaweb-restore: files of $path from snapshot $snapshot"
}

restore_site() {
  local site path
  if [ -n "${site_database[$1]:-}" ]; then restore_database "${site_database[$1]}"; fi
  if [ -n "${site_paths[$1]:-}" ]; then
    read -r -a site <<<"${site_paths[$1]}"
    for path in "${site[@]}"; do restore_files "$path"; done
  fi
}

# Runs in the private server: every key of every database, a page of SCAN at a time, copied to the
# primary by MIGRATE (COPY: the private server keeps them; REPLACE; the remaining TTL goes along).
# Binary-safe, as no key or value passes through the shell. ARGV: host, port, password.
# shellcheck disable=SC2016 # Lua, not shell
copy_keys='
local host, port, password = ARGV[1], ARGV[2], ARGV[3]
local copied = 0
for db in string.gmatch(redis.call("INFO", "keyspace"), "db(%d+):keys=") do
  redis.call("SELECT", db)
  local cursor = "0"
  repeat
    local page = redis.call("SCAN", cursor, "COUNT", 500)
    cursor = page[1]
    if #page[2] > 0 then
      local migrate = { "MIGRATE", host, port, "", db, 60000, "COPY", "REPLACE", "AUTH", password, "KEYS" }
      for _, key in ipairs(page[2]) do migrate[#migrate + 1] = key end
      redis.call(unpack(migrate))
      copied = copied + #page[2]
    end
  until cursor == "0"
end
return copied'

# The primary's replicas that have applied everything up to OFFSET, and how many there are.
replicas_at() {
  redis-cli -h "$redis_host" -p "$redis_primary_port" INFO replication | tr -d '\r' | awk -F, -v offset="$1" '
    /^slave[0-9]+:/ { sub(/^slave[0-9]+:/, ""); replicas++
      for (i = 1; i <= NF; i++) { split($i, pair, "="); value[pair[1]] = pair[2] }
      if (value["state"] == "online" && value["offset"] + 0 >= offset + 0) current++ }
    END { printf "%d %d\n", current, replicas }'
}

restore_redis() {
  local socket=$work/snapshot.sock answer copied offset current replicas
  restic dump "$snapshot" "$staging/redis/dump.rdb" >"$work/dump.rdb"
  # Nothing persisted and no TCP port: it exists only to read the RDB.
  redis-server --port 0 --unixsocket "$socket" --unixsocketperm 700 --dir "$work" --dbfilename dump.rdb \
    --save '' --appendonly no --logfile "$work/snapshot-redis.log" </dev/null >/dev/null 2>&1 &
  snapshot_redis=$!
  snapshot_cli() { env -u REDISCLI_AUTH redis-cli -s "$socket" "$@"; }
  # LOADING until the whole RDB is in memory.
  until [ "$(snapshot_cli ping 2>/dev/null)" = PONG ]; do
    kill -0 "$snapshot_redis" 2>/dev/null || die "the snapshot's RDB did not load: $(tail -n 5 "$work/snapshot-redis.log" 2>/dev/null)"
    sleep 0.2
  done
  answer=$(redis-cli -h "$redis_host" -p "$redis_primary_port" FLUSHALL ASYNC 2>&1)
  [ "$answer" = OK ] || die "FLUSHALL on the primary $redis_host:$redis_primary_port was refused ($answer): nothing was restored"
  copied=$(printf '%s' "$REDISCLI_AUTH" | snapshot_cli -x EVAL "$copy_keys" 0 "$redis_host" "$redis_primary_port" 2>&1)
  [[ $copied =~ ^[0-9]+$ ]] || die "copying the snapshot's keys into $redis_host:$redis_primary_port failed ($copied): it holds only some of them; run megaweb-restore again"
  # In step: every replica has applied the FLUSHALL and every copied key.
  offset=$(redis-cli -h "$redis_host" -p "$redis_primary_port" INFO replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
  for _ in $(seq 600); do
    read -r current replicas < <(replicas_at "$offset")
    [ "$current" -lt "$replicas" ] || break
    sleep 0.2
  done
  [ "$current" -ge "$replicas" ] ||
    die "Redis holds the snapshot's $copied keys, but only $current of its $replicas replicas reached it within 120 s: see INFO replication on $redis_host:$redis_primary_port"
  echo "megaweb-restore: Redis from snapshot $snapshot: $copied keys, into $redis_host:$redis_primary_port; $current of $replicas replicas in step"
}

case "$what" in
  site) restore_site "$domain" ;;
  app) restore_database "$app_database" ;;
  redis) restore_redis ;;
  all)
    for database in "${databases[@]}"; do restore_database "$database"; done
    for domain in "${!site_paths[@]}"; do
      read -r -a site <<<"${site_paths[$domain]}"
      for path in "${site[@]}"; do restore_files "$path"; done
    done
    if [ -n "$redis_port" ]; then restore_redis; fi
    ;;
esac
