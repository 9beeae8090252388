# Redis with a password, listening only where its clients are. The password file arrives on stdin.
apt_install_stopped redis-server
{{{settings}}}
put_file {{passwordFile}} 0640 redis:redis </dev/stdin
redis_password=$(sed -n 's/^requirepass //p' {{passwordFile}})
# Later includes win, so these come after everything Debian's redis.conf sets.
for include in {{settingsFile}} {{passwordFile}}; do
  grep -qxF "include $include" /etc/redis/redis.conf || printf 'include %s\n' "$include" >>/etc/redis/redis.conf
done
systemctl enable redis-server.service >/dev/null 2>&1
if was_replaced || ! systemctl is-active --quiet redis-server; then
  if ! systemctl restart redis-server; then
    restore_files
    systemctl restart redis-server || true
    echo "megaweb: Redis did not start with the new configuration; the previous one was restored" >&2
    exit 1
  fi
fi
for _ in $(seq 1 50); do
  [ "$(REDISCLI_AUTH=$redis_password redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ] && break
  sleep 0.2
done
[ "$(REDISCLI_AUTH=$redis_password redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ] || { echo "megaweb: Redis does not answer" >&2; exit 1; }
forget_previous
