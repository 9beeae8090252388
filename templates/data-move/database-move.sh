# {{domain}}: its database `{{database}}` moves from this host to {{targetHost}} once, while its
# environment file still names another host (lib/render/DEPLOY.md, "Growth that keeps the data").
# Its credentials for the new copy arrive on stdin, never in a command line.
{{> databaseHost}}
if [ -z "$current" ] || [ "$current" = {{targetHost}} ]; then
  echo "megaweb: {{domain}}: its database is where the plan puts it ({{targetHost}}); nothing to move"
  exit 0
fi
umask 077
target_cnf=$(mktemp)
copy_errors=$(mktemp)
trap 'rm -f "$target_cnf" "$copy_errors"' EXIT
{{> databaseClients}}

tables=$(target -N -B -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{{database}}'")
if [ "$tables" != 0 ]; then
  echo "megaweb: {{domain}}: \`{{database}}\` on {{targetHost}} has $tables tables already and {{envFile}} still names $current; both copies are kept, move one aside and run again" >&2
  exit 1
fi

# The window without writes starts here: its accounts lose their write grants on this
# copy, and their open connections are closed (a database grant binds a connection only at its
# next USE, and pooled connections never send one).
mapfile -t accounts < <(accounts_here)
writes="INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE VIEW, TRIGGER"
give_back() {
  local account
  for account in "${accounts[@]}"; do here -e "GRANT ALL PRIVILEGES ON \`{{database}}\`.* TO $account"; done
}
for account in "${accounts[@]}"; do here -e "REVOKE $writes ON \`{{database}}\`.* FROM $account"; done
# Connections opened after the REVOKE get the new grants; those open before it are closed, and
# the copy waits until they are gone (KILL returns first): a commit racing one lands before the
# copy's snapshot.
mapfile -t open_before < <(here -e "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{{user}}'")
for id in "${open_before[@]}"; do here -e "KILL CONNECTION $id" 2>/dev/null || true; done
refused_since=$EPOCHREALTIME
if [ ${#open_before[@]} -gt 0 ]; then
  for _ in $(seq 100); do
    [ "$(here -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ($(
      IFS=,
      echo "${open_before[*]}"
    ))")" = 0 ] && break
    sleep 0.1
  done
fi

# A failed step's output is in the error Pulumi shows, logged or not, and the tools' errors may
# quote rows (`Duplicate entry 'alice@example.com'`): the reason keeps their first lines, every
# quoted value blanked.
if ! mariadb-dump --single-transaction --routines --triggers --no-create-db --skip-add-locks {{database}} 2>>"$copy_errors" | target {{database}} 2>>"$copy_errors"; then
  give_back
  reason=$(sed -e "s/'[^']*'/'...'/g" "$copy_errors" | head -n 3 | tr '\n' ' ')
  echo "megaweb: {{domain}}: copying \`{{database}}\` to {{targetHost}} failed (${reason% }); this copy takes writes again" >&2
  exit 1
fi

# Every table's checksum on both sides, or the data stays on this copy.
mapfile -t names < <(here -e "SELECT table_name FROM information_schema.tables WHERE table_schema = '{{database}}' AND table_type = 'BASE TABLE' ORDER BY table_name")
for name in "${names[@]}"; do
  old=$(here -e "CHECKSUM TABLE \`{{database}}\`.\`$name\`" | cut -f 2)
  new=$(target -N -B -e "CHECKSUM TABLE \`{{database}}\`.\`$name\`" | cut -f 2)
  if [ "$old" != "$new" ]; then
    give_back
    echo "megaweb: {{domain}}: table $name differs on {{targetHost}} (checksum $new, here $old); this copy takes writes again, the new one is left to inspect" >&2
    exit 1
  fi
done
echo "megaweb: {{domain}}: \`{{database}}\` is on {{targetHost}} (${#names[@]} tables, checksums equal, $(awk -v start="$refused_since" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }') s); this copy stays, read-only, until forgotten"
