# The single box's daemons on this host, once every copy a growth moved away from them is
# forgotten (lib/render/DEPLOY.md, "Growth that keeps the data"): stopped and masked, so the memory
# this web host's PHP pools are sized from is theirs, and no package upgrade starts them again. A
# later forget finds the masked unit and has nothing to forget.
retire() {
  systemctl mask --quiet "$1"
  systemctl stop "$1"
  echo "megaweb: stopped and masked the box's $2: $3"
}
{{> retired}}
{{#mariadb}}

if retired mariadb.service || ! command -v mariadbd >/dev/null 2>&1; then
  echo "megaweb: no MariaDB of the single box runs on this host"
elif ! left=$(mariadb -N -B -e "SELECT COALESCE(GROUP_CONCAT(schema_name ORDER BY schema_name SEPARATOR ', '), '') FROM information_schema.schemata WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys')" 2>&1); then
  echo "megaweb: the box's MariaDB does not answer (${left%%$'\n'*}); it is kept until it does" >&2
  exit 1
elif [ -n "$left" ]; then
  echo "megaweb: the box's MariaDB keeps running: it still holds $left"
else
  retire mariadb.service MariaDB "it holds no database since the forgets"
fi
{{/mariadb}}
{{#redis}}

# Its forget emptied it or found it empty, and it has refused its clients' writes since the move.
if retired redis-server.service || ! command -v redis-server >/dev/null 2>&1; then
  echo "megaweb: no Redis of the single box runs on this host"
else
  retire redis-server.service Redis "its keys moved to the plan's Redis, and its forget emptied it"
fi
{{/redis}}
