-- Rendered by megaweb: the account prometheus-mysqld-exporter logs in with. It reads status and
-- replication state only (no SELECT: it never sees a site's data), from this host, with at most three
-- connections. The password arrives in the session variable @exporter_password (set on stdin),
-- never in this text; the account stays locked until it has one.
CREATE USER IF NOT EXISTS '{{user}}'@'{{from}}' ACCOUNT LOCK;
SET @statement = CONCAT('ALTER USER ''{{user}}''@''{{from}}'' IDENTIFIED BY ', QUOTE(@exporter_password), ' WITH MAX_USER_CONNECTIONS 3 ACCOUNT UNLOCK');
PREPARE set_password FROM @statement;
EXECUTE set_password;
DEALLOCATE PREPARE set_password;
GRANT PROCESS, BINLOG MONITOR, REPLICA MONITOR ON *.* TO '{{user}}'@'{{from}}';
