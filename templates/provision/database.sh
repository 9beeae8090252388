# The database of {{domain}} and its user, for its clients' addresses; the password arrives on stdin.
IFS= read -r db_password || [ -n "$db_password" ]
# Root may write on a read-only replica and would fork its history: after a promotion the plan's
# primary must name the new one before a database changes.
if [ "$(mariadb --protocol=socket -N -e 'SELECT @@read_only')" = 1 ]; then
  echo "megaweb: MariaDB here is read-only (a replica); databases and users are made on the primary" >&2
  exit 1
fi
mariadb --protocol=socket <<SQL
CREATE DATABASE IF NOT EXISTS \`{{database}}\` CHARACTER SET {{charset}};
{{#clients}}
CREATE USER IF NOT EXISTS '{{user}}'@'{{.}}' IDENTIFIED BY '$db_password';
ALTER USER '{{user}}'@'{{.}}' IDENTIFIED BY '$db_password';
GRANT ALL PRIVILEGES ON \`{{database}}\`.* TO '{{user}}'@'{{.}}';
{{/clients}}
{{#replicaMonitors}}
GRANT SLAVE MONITOR ON *.* TO '{{user}}'@'{{.}}';
{{/replicaMonitors}}
SQL
# An address that is no longer a client's (a node removed, a client moved to another host) loses the user.
clients=" {{clientList}} "
for client in $(mariadb --protocol=socket -N -e "SELECT host FROM mysql.user WHERE user = '{{user}}'"); do
  case $clients in
    *" $client "*) ;;
    *) mariadb --protocol=socket -e "DROP USER '{{user}}'@'$client'" ;;
  esac
done
