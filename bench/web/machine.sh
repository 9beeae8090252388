#!/usr/bin/env bash
# Runs on the benchmark's machine (bench/web/run.ts sends it over SSH as `bash -s -- ACTION ...`).
#
#   setup SERVED_SITE STOCK_PORT CEILING_PORT SITE...
#       the fixtures in every SITE's home (pages arrive before, see run.ts), a table and a Redis key
#       for the database page, then the stock stack (on a copy of SERVED_SITE's files) and the
#       ceiling server (on the site's own) next to megaweb's:
#   cpu UNIT...
#       each unit's CPU time so far in clock ticks (its main process, its children and the children
#       it has reaped), one `UNIT TICKS` line each; a difference over a run, per request, is a cost
#       that a noisy neighbour slows down but does not add to.
#   stop
#       stops the stock and ceiling daemons this script started.
#
# The stock stack is Debian's own: nginx.conf, sites-available/default, php-fpm.conf and www.conf
# taken from the package archives apt left on the machine (megaweb rewrites /etc/nginx/nginx.conf),
# php.ini-production as Debian installs it for FPM, and the extensions' conf.d without megaweb's
# ini. The only edits are the ones a second instance needs (pid file, port, which directory it
# includes) and the ones Debian's default site asks for to run PHP (its commented PHP block, index.php).
set -euo pipefail

bench=/opt/megaweb-bench
stock=$bench/stock
php_version=8.2
stock_units=(megaweb-bench-stock-nginx megaweb-bench-stock-fpm megaweb-bench-ceiling)
firewall_mark=megaweb-bench

die() { echo "machine.sh: $*" >&2; exit 1; }

env_value() { sed -n "s/^$2=//p" "/var/www/$1/.env"; }

# bench-config.php: a .env as a PHP array (OPcache keeps it, as an application's config), without
# the variables named after the file; no secret passes a command line.
env_config() {
  local env=$1 into=$2
  shift 2
  # shellcheck disable=SC2016 # the single quotes hold PHP, not shell
  php -r '$config = array_diff_key(parse_ini_file($argv[1]), array_flip(array_slice($argv, 3))); file_put_contents($argv[2], "<?php return " . var_export($config, true) . ";\n");' "$env" "$into" "$@"
}

site_fixtures() {
  local slug=$1 home=/var/www/$1
  [ -f "$home/.env" ] || die "$home/.env is missing: did pulumi up finish?"
  env_config "$home/.env" "$home/bench-config.php"
  chown "$slug:www-data" "$home/bench-config.php"
  chmod 0640 "$home/bench-config.php"
  local database
  database=$(env_value "$slug" DB_DATABASE)
  mysql "$database" <<'SQL'
CREATE TABLE IF NOT EXISTS bench_items (id INT PRIMARY KEY, title VARCHAR(64) NOT NULL);
INSERT IGNORE INTO bench_items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_1000;
SQL
  REDISCLI_AUTH=$(env_value "$slug" REDIS_PASSWORD) redis-cli --no-auth-warning set bench:greeting hello >/dev/null
}

extract_package() {
  local package=$1 into=$2 archive
  archive=$(find /var/cache/apt/archives -maxdepth 1 -name "${package}_*.deb" | head -n1)
  [ -n "$archive" ] || die "no $package archive in /var/cache/apt/archives to take its pristine files from"
  dpkg-deb -x "$archive" "$into"
}

# The stock side serves a copy of the site's files with the .env a user writes on a stock box:
# Laravel's defaults, TCP to 127.0.0.1, no unix sockets.
stock_site() {
  local home=$1
  mkdir -p "$stock/www"
  cp -a "$home/public" "$stock/www/public"
  env_config "$home/.env" "$stock/www/bench-config.php" DB_SOCKET REDIS_SOCKET
  chown -R root:www-data "$stock/www"
  chmod -R g+rX,o-rwx "$stock/www"
}

stock_setup() {
  local docroot=$stock/www/public port=$1 pristine=$stock/pristine
  mkdir -p "$pristine" "$stock/php/conf.d"
  extract_package nginx-common "$pristine"
  extract_package "php$php_version-fpm" "$pristine"
  extract_package "php$php_version-common" "$pristine"

  cp -a "$pristine/etc/nginx" "$stock/nginx"
  sed -i \
    -e 's|^pid /run/nginx.pid;|pid /run/megaweb-bench-stock-nginx.pid;|' \
    -e "s|include /etc/nginx/conf.d/\*.conf;|include $stock/nginx/conf.d/*.conf;|" \
    -e "s|include /etc/nginx/sites-enabled/\*;|include $stock/nginx/sites-enabled/*;|" \
    "$stock/nginx/nginx.conf"
  # Debian's default site, with its PHP block uncommented as its comments say, on the stock port.
  sed \
    -e "s|listen 80 default_server;|listen $port default_server;|" \
    -e "s|listen \[::\]:80 default_server;|listen [::]:$port default_server;|" \
    -e "s|root /var/www/html;|root $docroot;|" \
    -e 's|index index.html index.htm index.nginx-debian.html;|index index.php index.html index.htm index.nginx-debian.html;|' \
    -e '/^\t#location ~ \\.php\$ {/,/^\t#}/ {
          s|^\t#location|\tlocation|
          s|^\t#\tinclude snippets/fastcgi-php.conf;|\t\tinclude snippets/fastcgi-php.conf;|
          s|^\t#\tfastcgi_pass unix:/run/php/php7.4-fpm.sock;|\t\tfastcgi_pass unix:/run/php/php'"$php_version"'-fpm.sock;|
          s|^\t#}|\t}|
        }' \
    "$pristine/etc/nginx/sites-available/default" >"$stock/nginx/sites-enabled/default"
  # The edits above must all have applied: a stock stack that silently kept port 80 or no PHP would bench nothing.
  grep -q "pid /run/megaweb-bench-stock-nginx.pid;" "$stock/nginx/nginx.conf" || die "Debian's nginx.conf has no pid line to move"
  grep -q "include $stock/nginx/sites-enabled/\*;" "$stock/nginx/nginx.conf" || die "Debian's nginx.conf has no sites-enabled include"
  grep -q "fastcgi_pass unix:/run/php/php$php_version-fpm.sock;" "$stock/nginx/sites-enabled/default" || die "Debian's default site has no PHP block to enable"
  grep -q "listen $port default_server;" "$stock/nginx/sites-enabled/default" || die "Debian's default site has no listen 80 to move"

  cp "$pristine/etc/php/$php_version/fpm/php-fpm.conf" "$stock/php/php-fpm.conf"
  mkdir -p "$stock/php/pool.d"
  cp "$pristine/etc/php/$php_version/fpm/pool.d/www.conf" "$stock/php/pool.d/www.conf"
  sed -i "s|^include=/etc/php/$php_version/fpm/pool.d/\*.conf|include=$stock/php/pool.d/*.conf|" "$stock/php/php-fpm.conf"
  grep -q "^include=$stock/php/pool.d/" "$stock/php/php-fpm.conf" || die "Debian's php-fpm.conf has no pool.d include"
  # Debian's php8.2-fpm installs php.ini-production as /etc/php/8.2/fpm/php.ini.
  cp "$pristine/usr/lib/php/$php_version/php.ini-production" "$stock/php/php.ini"
  local ini
  for ini in /etc/php/"$php_version"/fpm/conf.d/*.ini; do
    case $(basename "$ini") in 99-megaweb.ini) ;; *) cp -L "$ini" "$stock/php/conf.d/" ;; esac
  done

  nginx -t -q -c "$stock/nginx/nginx.conf"
  "php-fpm$php_version" -t -c "$stock/php/php.ini" --fpm-config "$stock/php/php-fpm.conf" 2>/dev/null
}

ceiling_setup() {
  local docroot=$1 port=$2
  mkdir -p "$bench/ceiling"
  cat >"$bench/ceiling/nginx.conf" <<EOF
# The static-file ceiling: the same nginx serving the same file with nothing it could skip.
user www-data;
worker_processes auto;
pid /run/megaweb-bench-ceiling.pid;
error_log /var/log/nginx/megaweb-bench-ceiling.error.log;
events {
    worker_connections 1024;
}
http {
    include /etc/nginx/mime.types;
    sendfile on;
    tcp_nopush on;
    access_log off;
    open_file_cache max=16 inactive=5m;
    open_file_cache_valid 5m;
    server {
        listen $port;
        root $docroot;
        location = /static.css {
        }
        location / {
            return 404;
        }
    }
}
EOF
  nginx -t -q -c "$bench/ceiling/nginx.conf"
}

# Started as transient units like Debian's own: nginx forking with its pid file, FPM notifying systemd.
start_units() {
  systemd-run --quiet --unit=megaweb-bench-stock-fpm -p Type=notify \
    --setenv=PHP_INI_SCAN_DIR="$stock/php/conf.d" \
    "/usr/sbin/php-fpm$php_version" --nodaemonize -c "$stock/php/php.ini" --fpm-config "$stock/php/php-fpm.conf"
  systemd-run --quiet --unit=megaweb-bench-stock-nginx -p Type=forking -p PIDFile=/run/megaweb-bench-stock-nginx.pid \
    /usr/sbin/nginx -c "$stock/nginx/nginx.conf" -g 'daemon on; master_process on;'
  systemd-run --quiet --unit=megaweb-bench-ceiling -p Type=forking -p PIDFile=/run/megaweb-bench-ceiling.pid \
    /usr/sbin/nginx -c "$bench/ceiling/nginx.conf" -g 'daemon on; master_process on;'
}

stop_units() {
  local unit
  for unit in "${stock_units[@]}"; do
    systemctl stop "$unit" 2>/dev/null || true
    systemctl reset-failed "$unit" 2>/dev/null || true
  done
}

# megaweb's firewall drops every port but 22, 80 and 443; the load generator must reach the other
# two servers too. A rule in megaweb's own chain, since a drop there is final whatever other tables accept.
open_ports() {
  close_ports
  nft insert rule inet filter input tcp dport "{ $1, $2 }" accept comment "\"$firewall_mark\""
}

close_ports() {
  local handle
  for handle in $(nft -a list chain inet filter input 2>/dev/null | sed -n "s/.*comment \"$firewall_mark\" # handle \([0-9]*\)$/\1/p"); do
    nft delete rule inet filter input handle "$handle"
  done
}

cpu_ticks() {
  local unit main pid total
  for unit in "$@"; do
    main=$(systemctl show -p MainPID --value "$unit")
    [ "$main" != 0 ] || die "$unit is not running"
    total=0
    # Fields 14-17 of /proc/PID/stat: utime, stime and the reaped children's cutime, cstime.
    for pid in "$main" $(pgrep -P "$main"); do
      total=$((total + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$unit $total"
  done
}

case ${1:-} in
  setup)
    [ $# -ge 5 ] || die "usage: setup SERVED_SITE STOCK_PORT CEILING_PORT SITE..."
    home=/var/www/$2 stock_port=$3 ceiling_port=$4
    shift 4
    for slug in "$@"; do site_fixtures "$slug"; done
    stop_units
    rm -rf "$stock"
    stock_site "$home"
    stock_setup "$stock_port"
    ceiling_setup "$home/public" "$ceiling_port"
    start_units
    open_ports "$stock_port" "$ceiling_port"
    ;;
  cpu)
    shift
    echo "clock_ticks $(getconf CLK_TCK)"
    cpu_ticks "$@"
    ;;
  stop)
    close_ports
    stop_units
    ;;
  *) die "usage: machine.sh setup|cpu|stop ..." ;;
esac
