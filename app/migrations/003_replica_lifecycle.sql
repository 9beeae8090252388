-- Replicas live through reports from whatever runs them: pending (placed, waiting for a runner), then
-- starting, running, and stopped or failed. Only transitions reach this table; the steady heartbeats of a
-- million replicas stay in Redis, and the worker brings last_heartbeat_at forward in bulk.
ALTER TABLE replicas MODIFY status ENUM('pending', 'starting', 'running', 'stopping', 'stopped', 'failed') NOT NULL DEFAULT 'pending';
UPDATE replicas SET status = 'stopped' WHERE status = 'stopping';
ALTER TABLE replicas
  MODIFY status ENUM('pending', 'starting', 'running', 'stopped', 'failed') NOT NULL DEFAULT 'pending',
  ADD COLUMN ended_at DATETIME(3) NULL AFTER last_heartbeat_at,
  ADD COLUMN end_reason VARCHAR(255) NULL AFTER ended_at,
  -- Set when the replica failed because of its proxy, so its replacement goes to another one.
  ADD COLUMN proxy_at_fault TINYINT(1) NOT NULL DEFAULT 0 AFTER end_reason,
  -- Live replicas of a session and of a proxy are counted on these, without touching ended ones.
  ADD KEY replicas_session_status (session_id, status),
  ADD KEY replicas_proxy_status (proxy_id, status),
  -- The worker's fallback sweep finds live replicas whose last known heartbeat is too old.
  ADD KEY replicas_liveness (status, last_heartbeat_at);
ALTER TABLE replicas DROP KEY replicas_session, DROP KEY replicas_proxy;
