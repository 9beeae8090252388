# MariaDB, listening only where its clients are, sized for this host.
apt_install_stopped mariadb-server mariadb-client
# Debian's package logs to the journal and leaves out the directory its logrotate config rotates
# the slow log in; without it MariaDB turns the slow log off.
install -d -m 2750 -o mysql -g adm {{logDirectory}}
{{{files}}}
systemctl enable mariadb.service >/dev/null 2>&1
restart_mariadb() {
  if ! systemctl restart mariadb; then
    restore_files
    systemctl restart mariadb || true
    echo "megaweb: MariaDB did not start with the new configuration; the previous one was restored" >&2
    exit 1
  fi
}
if was_replaced {{serverConfig}} || ! systemctl is-active --quiet mariadb; then
  restart_mariadb
elif was_replaced {{sizingConfig}}; then
  # Every sizing setting can change on a running server, so its clients keep their connections;
  # a server that refuses one (a read-only variable on an older MariaDB) is restarted instead.
  mariadb --protocol=socket <<'SQL' || restart_mariadb
{{{onlineSizing}}}
SQL
fi
forget_previous
echo "MariaDB listening on $(ss -Hltn 'sport = :3306' | awk '{print $4}' | paste -sd' ')"
