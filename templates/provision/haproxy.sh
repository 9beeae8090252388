# HAProxy in front of the web hosts; `haproxy -c` checks the file before the reload.
apt_install_stopped haproxy
{{{files}}}
checked haproxy -c -f /etc/haproxy/haproxy.cfg
systemctl enable haproxy.service >/dev/null 2>&1
if ! systemctl is-active --quiet haproxy; then systemctl start haproxy; elif was_replaced; then systemctl reload haproxy; fi
forget_previous
