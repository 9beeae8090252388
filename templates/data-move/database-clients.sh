cat >"$target_cnf"
target() { mariadb --defaults-extra-file="$target_cnf" "$@"; }
here() { mariadb -N -B "$@"; }
# Every host part of the database's account on this server, quoted for SQL (`'user'@'host'`).
accounts_here() { here -e "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = '{{user}}'"; }
