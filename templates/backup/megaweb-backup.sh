#!/bin/bash
# Rendered by megaweb: backs up this host into its restic repository; megaweb-backup.timer runs it.
# Each database is dumped with --single-transaction (one consistent view, without locking the
# site), Redis is fetched as an RDB, and the dumps and every site's files go into one snapshot,
# so a restore takes all of them from the same moment. Then retention. Any failure exits
# non-zero, which fails megaweb-backup.service; the last success stays readable in the file below.
set -euo pipefail
. {{config}}
if [ -n "$secrets_env" ]; then set -a; . "$secrets_env"; set +a; fi
umask 077
restic() { command restic "${restic_options[@]}" "$@"; }

# After a failover the plan's MySQL primary can be a replica. Its dumps are then its copy of the
# primary's data: current while it replicates, so it backs up as before; stale once it does not
# (stopped, broken, or a former primary a promotion fenced), which fails the backup rather than
# saving old rows as today's.
if [ ${#databases[@]} -gt 0 ]; then
  read_only=$(mariadb --socket="$mariadb_socket" --user=root --batch --skip-column-names -e 'SELECT @@read_only + 0')
  replica=$(mariadb --socket="$mariadb_socket" --user=root -e 'SHOW SLAVE STATUS\G')
  field() { sed -n "s/^ *$1: //p" <<<"$replica" | head -n 1; }
  source=$(field Master_Host)
  [ -z "$source" ] || source=$source:$(field Master_Port)
  if [ -n "$source" ] && [ "$(field Slave_IO_Running)" = Yes ] && [ "$(field Slave_SQL_Running)" = Yes ]; then
    echo "megaweb-backup: MariaDB here is a replica of $source ($(field Seconds_Behind_Master) s behind): the dumps are its copy"
  elif [ -n "$source" ]; then
    echo "megaweb-backup: MariaDB here is a replica of $source whose replication is not running" \
      "(IO: $(field Slave_IO_Running), SQL: $(field Slave_SQL_Running); $(field Last_IO_Error)$(field Last_SQL_Error)):" \
      "its copy may be stale, so nothing was backed up; restart its replication, or back up the primary" >&2
    exit 1
  elif [ "$read_only" = 1 ]; then
    echo "megaweb-backup: MariaDB here is read-only and follows no primary (a former primary that a promotion fenced): its copy may be stale, so nothing was backed up; back up the writable primary (megaweb:mysqlPrimary names it, then pulumi up)" >&2
    exit 1
  fi
fi

rm -rf "$staging"
install -d -m 700 "$staging"
trap 'rm -rf "$staging"' EXIT
for database in "${databases[@]}"; do
  install -d -m 700 "$staging/mariadb"
  # --add-drop-database: restoring the dump replaces the database rather than merging into it.
  mariadb-dump --socket="$mariadb_socket" --user=root --single-transaction --quick --routines --triggers --events --hex-blob \
    --add-drop-database --databases "$database" >"$staging/mariadb/$database.sql"
done
if [ -n "$redis_port" ]; then
  install -d -m 700 "$staging/redis"
  REDISCLI_AUTH=$(sed -n 's/^requirepass //p' "$redis_secrets") redis-cli -h 127.0.0.1 -p "$redis_port" --rdb "$staging/redis/dump.rdb" >/dev/null
fi

paths=("$staging")
for domain in "${!site_paths[@]}"; do
  read -r -a site <<<"${site_paths[$domain]}"
  paths+=("${site[@]}")
done
excludes=()
for pattern in "${file_excludes[@]}"; do excludes+=(--exclude "$pattern"); done

# The first run makes the repository. Later runs never do: a repository that has gone missing
# must fail the backup, not be started afresh under everyone's feet.
if [ ! -e "$last_success" ] && ! restic cat config >/dev/null 2>&1; then restic init; fi
summary=$(restic backup --json --host "$snapshot_host" --tag megaweb "${excludes[@]}" "${paths[@]}" | grep '"message_type":"summary"')
snapshot=$(grep -o '"snapshot_id":"[0-9a-f]*"' <<<"$summary" | cut -d '"' -f 4 | cut -c 1-8)
restic forget --quiet --host "$snapshot_host" --group-by host "${retention[@]}" --prune
install -d -m 755 "$(dirname "$last_success")"
printf '%s snapshot %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$snapshot" >"$last_success.new"
mv -f "$last_success.new" "$last_success"
echo "megaweb-backup: snapshot $snapshot of $snapshot_host"
