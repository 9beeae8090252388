# MariaDB, listening only where its clients are.
apt_install_stopped mariadb-server mariadb-client
put_file /etc/mysql/mariadb.conf.d/60-megaweb.cnf 644 root:root <<'MARIADB'
{{{config}}}
MARIADB
systemctl enable mariadb.service >/dev/null 2>&1
if was_replaced || ! systemctl is-active --quiet mariadb; then
  if ! systemctl restart mariadb; then
    restore_files
    systemctl restart mariadb || true
    echo "megaweb: MariaDB did not start with the new configuration; the previous one was restored" >&2
    exit 1
  fi
fi
forget_previous
echo "MariaDB listening on $(ss -Hltn 'sport = :3306' | awk '{print $4}' | paste -sd' ')"
