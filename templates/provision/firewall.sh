# The host firewall: checked by nft before it replaces the running rules.
{{{files}}}
checked nft -c -f /etc/nftables.conf
if was_replaced || ! systemctl is-enabled --quiet nftables; then
  nft -f /etc/nftables.conf
  systemctl enable nftables.service >/dev/null 2>&1
fi
# The unit loads the same file; active, it says the rules are in force (ServiceUnitDown watches it).
# Never `restart`: its stop flushes the whole ruleset, fail2ban's bans with it.
systemctl is-active --quiet nftables || systemctl start nftables.service
forget_previous
