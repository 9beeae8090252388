# keepalived moves the shared address between the two HAProxy nodes; its own config test checks
# the file before the reload. Installed stopped: it must not claim the address before it is configured.
apt_install_stopped keepalived
{{{files}}}
checked keepalived --config-test -f /etc/keepalived/keepalived.conf
systemctl enable keepalived.service >/dev/null 2>&1
if ! systemctl is-active --quiet keepalived; then systemctl start keepalived; elif was_replaced; then systemctl reload keepalived; fi
forget_previous
