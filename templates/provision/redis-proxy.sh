# This host's proxy to the current Redis primary (lib/render/redis-proxy.ts). The password file
# arrives on stdin, so it is in no command string; HAProxy checks both files before the proxy
# starts or reloads, and a reload keeps the clients' connections.
put_file {{passwordFile}} 0600 root:root
{{{files}}}
checked haproxy -c -q -f {{passwordFile}} -f {{config}}
if was_replaced {{unit}}; then systemctl daemon-reload; fi
systemctl enable megaweb-redis-proxy.service >/dev/null 2>&1
if ! systemctl is-active --quiet megaweb-redis-proxy; then
  systemctl start megaweb-redis-proxy
elif was_replaced; then
  systemctl reload megaweb-redis-proxy
fi
forget_previous
echo "megaweb: the Redis proxy listens on {{listen}}"
