# {{package}}: listening on this host's private address, where only the monitoring host may connect.
apt_install_stopped {{package}}
{{{files}}}
{{#secretFile}}
put_file {{path}} {{mode}} {{owner}} </dev/stdin
{{/secretFile}}
{{#mysqlAccount}}
# The exporter's MariaDB account, made on the primary (replicas get it by replication); its
# password is read from the login file stdin wrote, never from this text.
exporter_password=$(sed -n 's/^password = //p' {{myCnf}})
{ printf "SET @exporter_password = '%s';\n" "$exporter_password"; cat <<'SQL'; } | mariadb --protocol=socket
{{{grants}}}
SQL
{{/mysqlAccount}}
{{#stubStatus}}
checked nginx -t
if was_replaced {{stubStatus}}; then reload_nginx; fi
{{/stubStatus}}
systemctl enable {{package}}.service >/dev/null 2>&1
if was_replaced || ! systemctl is-active --quiet {{package}}; then
  if ! systemctl restart {{package}}; then
    restore_files
    systemctl restart {{package}} || true
    echo "megaweb: {{package}} did not start with the new configuration; the previous one was restored" >&2
    exit 1
  fi
fi
forget_previous
