cat >"$target_cnf"
target() { mariadb --defaults-extra-file="$target_cnf" "$@"; }
here() { mariadb -N -B "$@"; }
