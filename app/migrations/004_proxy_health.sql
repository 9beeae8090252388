-- Proxy figures come from the worker's checks and from what replicas report about their last request.
-- Counts and latency decay (a half-life in the app), so they tell how a proxy does now, not in its first week.
ALTER TABLE proxies
  MODIFY status ENUM('active', 'degraded', 'down', 'disabled') NOT NULL DEFAULT 'active',
  MODIFY success_count DOUBLE NOT NULL DEFAULT 0,
  MODIFY failure_count DOUBLE NOT NULL DEFAULT 0,
  ADD COLUMN latency_weight DOUBLE NOT NULL DEFAULT 0 AFTER avg_latency_ms,
  ADD COLUMN consecutive_failures INT UNSIGNED NOT NULL DEFAULT 0 AFTER latency_weight,
  ADD COLUMN consecutive_successes INT UNSIGNED NOT NULL DEFAULT 0 AFTER consecutive_failures,
  ADD COLUMN last_checked_at DATETIME(3) NULL AFTER consecutive_successes,
  ADD COLUMN last_check_error VARCHAR(255) NULL AFTER last_checked_at,
  -- When the decayed figures were last brought forward.
  ADD COLUMN observed_at DATETIME(3) NULL AFTER last_check_error;
