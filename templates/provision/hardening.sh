# Kernel and network settings, modules never loaded, no core dumps, a login banner, and fail2ban
# on SSH; fail2ban starts only once its jail is megaweb's (Debian's own fails on the journal).
apt_install_stopped {{packages}}
# Security fixes published since the image was made go in now, not at the next daily run
# (Lynis PKGS-7392); unattended-upgrades' own policy picks them, so only the security suite.
unattended-upgrade
{{{files}}}
checked fail2ban-client -t
# systemd-sysctl skips keys a kernel lacks ("-" prefix) and skips itself where /proc/sys is
# read-only (containers), so the step holds on every host.
if was_replaced {{sysctl}}; then systemctl restart systemd-sysctl.service; fi
systemctl enable fail2ban.service >/dev/null 2>&1
if was_replaced {{jail}} || ! systemctl is-active --quiet fail2ban; then systemctl restart fail2ban; fi
forget_previous
