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

if ! id {{deployUser}} >/dev/null 2>&1; then useradd --create-home --shell /bin/bash {{deployUser}}; fi
usermod -aG sudo {{deployUser}}
install -d -m 700 -o {{deployUser}} -g {{deployUser}} /home/{{deployUser}}/.ssh
{{{authorizedKeys}}}
{{{sudoers}}}
checked visudo -cq
forget_previous

{{{sshd}}}
checked sshd -t
if was_replaced; then systemctl reload-or-restart ssh; fi
forget_previous

{{{autoUpgrades}}}
systemctl enable --now unattended-upgrades.service >/dev/null 2>&1
# timesyncd skips itself inside containers (ConditionVirtualization); on servers it keeps the clock.
systemctl enable --now systemd-timesyncd.service >/dev/null 2>&1
forget_previous
echo "base ready on $os_id $os_codename"
