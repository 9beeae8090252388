# The host firewall: checked by nft before it replaces the running rules.
{{{files}}}
checked nft -c -f /etc/nftables.conf
if was_replaced || ! systemctl is-enabled --quiet nftables; then
  nft -f /etc/nftables.conf
  systemctl enable nftables.service >/dev/null 2>&1
fi
forget_previous
