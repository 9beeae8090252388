# The base every megaweb host gets, whatever its roles.
case $os_id in
  debian | ubuntu) ;;
  *) echo "megaweb provisions Debian and Ubuntu; this host is \"$os_id\"" >&2; exit 1 ;;
esac

# Minimal images carry only the release suite; a server needs its security fixes and point updates.
if [ "$os_id" = debian ] && ! grep -rqs -- "$os_codename-security" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  put_file /etc/apt/sources.list.d/megaweb-debian.list 644 root:root <<SOURCES
deb http://deb.debian.org/debian $os_codename-updates main
deb http://deb.debian.org/debian-security $os_codename-security main
SOURCES
fi
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
apt_install sudo nftables unattended-upgrades ca-certificates curl systemd-timesyncd
forget_previous

if ! id "$deploy_user" >/dev/null 2>&1; then useradd --create-home --shell /bin/bash "$deploy_user"; fi
usermod -aG sudo "$deploy_user"
install -d -m 700 -o "$deploy_user" -g "$deploy_user" "/home/$deploy_user/.ssh"
put_file "/home/$deploy_user/.ssh/authorized_keys" 600 "$deploy_user:$deploy_user" < <(printf '%s' "$deploy_keys")
put_file /etc/sudoers.d/megaweb-deploy 440 root:root < <(printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$deploy_user")
checked visudo -cq
forget_previous

put_file /etc/ssh/sshd_config.d/50-megaweb.conf 644 root:root <<'SSHD'
{{{sshd}}}
SSHD
checked sshd -t
if was_replaced; then systemctl reload-or-restart ssh; fi
forget_previous

put_file /etc/apt/apt.conf.d/20auto-upgrades 644 root:root <<'APT'
{{{autoUpgrades}}}
APT
systemctl enable --now unattended-upgrades.service >/dev/null 2>&1
# timesyncd skips itself inside containers (ConditionVirtualization); on servers it keeps the clock.
systemctl enable --now systemd-timesyncd.service >/dev/null 2>&1
forget_previous
echo "base ready on $os_id $os_codename"
