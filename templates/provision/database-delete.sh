# {{domain}} left the config: its database user goes; the data stays for a deliberate DROP.
mariadb --protocol=socket <<'SQL'
{{#clients}}
DROP USER IF EXISTS '{{user}}'@'{{.}}';
{{/clients}}
SQL
