# OpenLiteSpeed comes from LiteSpeed's own repository (what repo.litespeed.sh sets up), not the distribution.
curl -fsSL -o /etc/apt/trusted.gpg.d/lst_debian_repo.gpg http://rpms.litespeedtech.com/debian/lst_debian_repo.gpg
put_file /etc/apt/sources.list.d/lst_debian_repo.list 0644 root:root <<'SOURCES'
deb http://rpms.litespeedtech.com/debian/ {{codename}} main
SOURCES
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
