# PHP {{versions}} is not Debian's own: Ondřej Surý's repository carries every supported version.
curl -fsSL -o /tmp/debsuryorg-archive-keyring.deb https://packages.sury.org/debsuryorg-archive-keyring.deb
dpkg -i /tmp/debsuryorg-archive-keyring.deb >/dev/null
put_file /etc/apt/sources.list.d/php-sury.list 0644 root:root <<'SOURCES'
deb [signed-by=/usr/share/keyrings/deb.sury.org-php.gpg] https://packages.sury.org/php/ {{codename}} main
SOURCES
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
