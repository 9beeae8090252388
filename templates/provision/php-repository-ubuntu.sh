# PHP {{versions}} is not Ubuntu's own: Ondřej Surý's PPA carries every supported version.
apt_install software-properties-common
add-apt-repository -y ppa:ondrej/php >/dev/null
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
