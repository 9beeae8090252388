# Prometheus and Alertmanager, each configuration checked by its own tool before the daemon
# reads it; on a failed check the previous files come back and keep running.
apt_install_stopped prometheus prometheus-alertmanager
{{{files}}}
checked promtool check config {{prometheusConfig}}
checked amtool check-config {{alertmanagerConfig}}
systemctl enable prometheus.service prometheus-alertmanager.service >/dev/null 2>&1
# A changed rule or scrape target is a reload; changed arguments need a restart.
if was_replaced {{prometheusDefaults}} || ! systemctl is-active --quiet prometheus; then
  systemctl restart prometheus
elif was_replaced; then
  systemctl reload prometheus
fi
if was_replaced {{alertmanagerDefaults}} || ! systemctl is-active --quiet prometheus-alertmanager; then
  systemctl restart prometheus-alertmanager
elif was_replaced {{alertmanagerConfig}}; then
  systemctl reload prometheus-alertmanager
fi
forget_previous
