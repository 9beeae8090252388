# {{domain}} left the config: its database user goes, from every address; the data stays for a deliberate DROP.
for client in $(mariadb --protocol=socket -N -e "SELECT host FROM mysql.user WHERE user = '{{user}}'"); do
  mariadb --protocol=socket -e "DROP USER IF EXISTS '{{user}}'@'$client'"
done
