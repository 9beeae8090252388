# The database of {{domain}} and its user; the password arrives on stdin.
IFS= read -r db_password || [ -n "$db_password" ]
mariadb --protocol=socket <<SQL
CREATE DATABASE IF NOT EXISTS \`{{database}}\` CHARACTER SET {{charset}};
{{#clients}}
CREATE USER IF NOT EXISTS '{{user}}'@'{{.}}' IDENTIFIED BY '$db_password';
ALTER USER '{{user}}'@'{{.}}' IDENTIFIED BY '$db_password';
GRANT ALL PRIVILEGES ON \`{{database}}\`.* TO '{{user}}'@'{{.}}';
{{/clients}}
SQL
