# {{domain}}: the copy of its database `{{database}}` that its move to {{targetHost}} left on this
# host, refusing writes, is dropped once its clients use the new copy and that holds every table of
# this one (lib/render/DEPLOY.md, "Growth that keeps the data"). The credentials for the new copy
# arrive on stdin, never in a command line.
umask 077
target_cnf=$(mktemp)
trap 'rm -f "$target_cnf"' EXIT
{{> databaseClients}}
{{> retired}}
kept() {
  echo "megaweb: {{domain}}: \`{{database}}\` on this host is kept: $*" >&2
  exit 1
}
# The client's errors may quote what they were given: every quoted value blanked, first line only.
blanked() { sed -e "s/'[^']*'/'...'/g" | head -n 1; }
base_tables="SELECT table_name FROM information_schema.tables WHERE table_schema = '{{database}}' AND table_type = 'BASE TABLE'"

# A host that never ran the single box's MariaDB (a web host made for a later phase), or whose
# MariaDB box-retire.sh masked once nothing was left in it, holds no copy; one whose MariaDB is
# down may, and is not taken for empty.
if ! here -e "SELECT 1" >/dev/null 2>&1; then
  if retired mariadb.service; then
    echo "megaweb: {{domain}}: this host's MariaDB was stopped once it held nothing; nothing to forget"
    exit 0
  fi
  if command -v mariadbd >/dev/null 2>&1; then kept "MariaDB is installed here but does not answer"; fi
  echo "megaweb: {{domain}}: no MariaDB on this host; nothing to forget"
  exit 0
fi
if [ "$(here -e "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{{database}}'")" = 0 ]; then
  echo "megaweb: {{domain}}: no \`{{database}}\` on this host; nothing to forget"
  exit 0
fi

# The move happened and its switch too: the clients read the new host from this file.
{{> databaseHost}}
if [ "$current" != {{targetHost}} ]; then
  kept "{{envFile}} names ${current:-no host} in {{hostVariable}}, not {{targetHost}}, so its clients may still read this copy"
fi
if ! on_target=$(target -N -B -e "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{{database}}'" 2>&1); then
  kept "MariaDB on {{targetHost}} does not answer ($(blanked <<<"$on_target"))"
fi
[ "$on_target" != 0 ] || kept "{{targetHost}} has no \`{{database}}\`"
# Two roles given the same address would make the new copy this one: a table made here must not
# show there (both servers may have the default server_id, 1).
probe=megaweb_forget_probe_$$_$RANDOM
here -e "CREATE TABLE \`{{database}}\`.\`$probe\` (id INT)"
seen=$(target -N -B -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{{database}}' AND table_name = '$probe'" 2>/dev/null || echo "no answer")
here -e "DROP TABLE \`{{database}}\`.\`$probe\`"
[ "$seen" != "no answer" ] || kept "MariaDB on {{targetHost}} stopped answering"
[ "$seen" = 0 ] || kept "{{targetHost}} answers as this host's own MariaDB"
# Checksums differ by the rows written since the switch, so the check is that no table is missing there.
tables=$(here -e "$base_tables" | wc -l)
mapfile -t missing < <(LC_ALL=C comm -23 <(here -e "$base_tables" | LC_ALL=C sort) <(target -N -B -e "$base_tables" | LC_ALL=C sort))
if [ ${#missing[@]} -gt 0 ]; then
  kept "{{targetHost}} lacks ${#missing[@]} of its $tables tables (${missing[*]:0:5})"
fi

here -e "DROP DATABASE \`{{database}}\`"
# Its account here goes too, unless it holds privileges on another database of this host.
accounts=()
if [ "$(here -e "SELECT COUNT(*) FROM mysql.db WHERE User = '{{user}}' AND REPLACE(Db, '\\\\_', '_') <> '{{database}}'")" = 0 ]; then
  mapfile -t accounts < <(accounts_here)
  for account in "${accounts[@]}"; do here -e "DROP USER $account"; done
fi
echo "megaweb: {{domain}}: dropped \`{{database}}\` on this host ($tables tables, each also on {{targetHost}}) and ${#accounts[@]} account(s) of {{user}}; its data is on {{targetHost}} only"
