# MariaDB's part in the cluster's GTID replication. The replication user's password file arrives on
# stdin. The files say only what does not change with a promotion; which server is the primary is
# the servers' own state, which megaweb-mysql-replication reads and never overrides: a server that
# already follows a primary, or is the writable one, keeps its role.
{{{files}}}
put_file {{credentialsFile}} 0600 root:root
if was_replaced {{dropIn}}; then systemctl daemon-reload; fi
if was_replaced {{serverConfig}}; then
  # A restarted primary comes back read-only and takes writes again once its replicas answer
  # (the unit's ExecStartPost above); a restarted replica resumes following its primary.
  if ! systemctl restart mariadb; then
    restore_files
    systemctl daemon-reload
    systemctl restart mariadb || true
    echo "megaweb: MariaDB did not start with the replication settings; the previous ones were restored" >&2
    exit 1
  fi
fi
forget_previous
{{tool}} setup
