#!/bin/bash
# Rendered by megaweb: puts this host's data back from a restic snapshot of megaweb-backup.
#   megaweb-restore list                     the snapshots, newest last
#   megaweb-restore site DOMAIN [SNAPSHOT]   the site's database and files, as far as this host holds them
#   megaweb-restore app [SNAPSHOT]           the app's database
#   megaweb-restore redis [SNAPSHOT]         Redis, from its RDB (Redis restarts)
#   megaweb-restore all [SNAPSHOT]           everything this host holds
# SNAPSHOT is an id from `list`, or latest (the default). Files come back exactly as they were:
# what was added since is removed (logs, sessions and tmp excepted). A database is dropped and
# loaded from its dump with the binary log on, so replicas of a primary follow the restore; on a
# replica, restore nothing: restore the primary.
set -euo pipefail
. {{config}}
if [ -n "$secrets_env" ]; then set -a; . "$secrets_env"; set +a; fi
umask 077
restic() { command restic "${restic_options[@]}" "$@"; }

usage() {
  sed -n '3,7s/^# //p' "$0" >&2
  exit 2
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

# One snapshot id for every part, so "latest" cannot move between the database and the files.
snapshot=$(restic snapshots --host "$snapshot_host" --json "${1:-latest}" | grep -o '"short_id":"[0-9a-f]*"' | tail -n 1 | cut -d '"' -f 4)
[ -n "$snapshot" ] || { echo "megaweb-restore: no snapshot ${1:-latest} of $snapshot_host" >&2; exit 1; }
work=$(mktemp -d "$(dirname "$staging")/restore.XXXXXX")
trap 'rm -rf "$work"' EXIT

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

restore_redis() {
  restic dump "$snapshot" "$staging/redis/dump.rdb" >"$work/dump.rdb"
  systemctl stop redis-server
  install -m 660 -o "${redis_owner%%:*}" -g "${redis_owner##*:}" "$work/dump.rdb" "$redis_rdb"
  systemctl start redis-server
  local keys
  export REDISCLI_AUTH
  REDISCLI_AUTH=$(sed -n 's/^requirepass //p' "$redis_secrets")
  for _ in $(seq 50); do
    keys=$(redis-cli -h 127.0.0.1 -p "$redis_port" dbsize 2>/dev/null) && [[ $keys =~ ^[0-9]+$ ]] && break
    sleep 0.2
  done
  [[ $keys =~ ^[0-9]+$ ]] || { echo "megaweb-restore: Redis does not answer after the restore" >&2; return 1; }
  echo "megaweb-restore: Redis from snapshot $snapshot: $keys keys"
}

case "$what" in
  site) restore_site "$domain" ;;
  app)
    [ -n "$app_database" ] || { echo "megaweb-restore: this host holds no app database" >&2; exit 2; }
    restore_database "$app_database"
    ;;
  redis)
    [ -n "$redis_port" ] || { echo "megaweb-restore: this host holds no Redis" >&2; exit 2; }
    restore_redis
    ;;
  all)
    for database in "${databases[@]}"; do restore_database "$database"; done
    for domain in "${!site_paths[@]}"; do
      read -r -a site <<<"${site_paths[$domain]}"
      for path in "${site[@]}"; do restore_files "$path"; done
    done
    if [ -n "$redis_port" ]; then restore_redis; fi
    ;;
esac
