IFS= read -r password
export REDISCLI_AUTH=$password
here() { redis-cli -h 127.0.0.1 -p {{sourcePort}} --no-auth-warning "$@"; }
target() { redis-cli -h {{targetHost}} -p {{targetPort}} --no-auth-warning "$@"; }
# Keys and keys without an expiry per database, `db0 12 10`, from INFO keyspace.
keyspace() { "$@" INFO keyspace | tr -d '\r' | sed -n 's/^\(db[0-9]*\):keys=\([0-9]*\),expires=\([0-9]*\).*/\1 \2 \3/p'; }
persistent() { keyspace "$@" | awk '{ print $1, $2 - $3 }'; }
moved_key=megaweb:moved-to
