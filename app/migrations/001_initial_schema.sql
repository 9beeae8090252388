-- The orchestrator's tables, tested on MariaDB 10.11: JSON columns (an alias with a check on
-- MariaDB), utf8mb4 text and ascii ids.

CREATE TABLE proxy_pools (
  id VARCHAR(64) NOT NULL,
  region VARCHAR(64) NOT NULL DEFAULT 'global',
  rotation ENUM('round-robin', 'sticky', 'burst', 'geo') NOT NULL DEFAULT 'round-robin',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Clients of the first edition post proxies into this pool without creating it.
INSERT INTO proxy_pools (id, region, rotation) VALUES ('global-pool', 'global', 'round-robin');

CREATE TABLE proxies (
  id CHAR(36) CHARACTER SET ascii NOT NULL,
  pool_id VARCHAR(64) NOT NULL,
  host VARCHAR(255) NOT NULL,
  port SMALLINT UNSIGNED NOT NULL,
  protocol ENUM('http', 'https', 'socks5') NOT NULL DEFAULT 'http',
  country CHAR(2) CHARACTER SET ascii NULL,
  region VARCHAR(64) NULL,
  city VARCHAR(128) NULL,
  latitude DECIMAL(9, 6) NULL,
  longitude DECIMAL(9, 6) NULL,
  success_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
  failure_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
  avg_latency_ms DOUBLE NULL,
  status ENUM('active', 'degraded', 'disabled') NOT NULL DEFAULT 'active',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY proxies_endpoint (pool_id, host, port),
  KEY proxies_pool_status (pool_id, status),
  CONSTRAINT proxies_pool FOREIGN KEY (pool_id) REFERENCES proxy_pools (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Ids are time-ordered UUIDs made by the app, so multi-row inserts of a million sessions append to
-- the primary key and need no round trip for generated keys. seq numbers sessions for the hypergrid.
CREATE TABLE sessions (
  id CHAR(36) CHARACTER SET ascii NOT NULL,
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  url VARCHAR(2048) NOT NULL,
  status ENUM('pending', 'active', 'paused', 'terminated', 'failed') NOT NULL DEFAULT 'pending',
  region VARCHAR(64) NOT NULL DEFAULT 'us-east',
  proxy_pool_id VARCHAR(64) NULL,
  target_replica_count INT NOT NULL DEFAULT 1,
  active_replica_count INT NOT NULL DEFAULT 0,
  rendering_options JSON NULL,
  proxy_requirements JSON NULL,
  -- Stored so the reconciler's sweep reads an index instead of scanning a million rows.
  converged TINYINT(1) AS (active_replica_count = IF(status IN ('terminated', 'failed'), 0, target_replica_count)) STORED,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY sessions_seq (seq),
  KEY sessions_status (status, id),
  KEY sessions_region (region, id),
  KEY sessions_pool (proxy_pool_id, id),
  KEY sessions_converged (converged)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE replicas (
  id CHAR(36) CHARACTER SET ascii NOT NULL,
  session_id CHAR(36) CHARACTER SET ascii NOT NULL,
  status ENUM('starting', 'running', 'stopping', 'failed') NOT NULL DEFAULT 'starting',
  proxy_id CHAR(36) CHARACTER SET ascii NULL,
  country CHAR(2) CHARACTER SET ascii NULL,
  started_at DATETIME(3) NULL,
  last_heartbeat_at DATETIME(3) NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY replicas_session (session_id),
  KEY replicas_proxy (proxy_id),
  CONSTRAINT replicas_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  aggregate_type VARCHAR(32) NOT NULL,
  aggregate_id VARCHAR(64) NOT NULL,
  event_type VARCHAR(64) NOT NULL,
  payload JSON NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY events_aggregate (aggregate_id, id),
  KEY events_type (event_type, id),
  KEY events_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE metrics (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(64) NOT NULL,
  value DOUBLE NOT NULL,
  recorded_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY metrics_name_time (name, recorded_at),
  KEY metrics_time (recorded_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
