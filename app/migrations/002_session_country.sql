-- Where a session runs: the country of its first replica's proxy. The hypergrid groups a million
-- sessions by tile, status and country from this one covering index instead of joining replicas.
ALTER TABLE sessions
  ADD COLUMN country CHAR(2) CHARACTER SET ascii NULL AFTER region,
  ADD KEY sessions_grid (seq, status, country);

UPDATE sessions s
  JOIN (SELECT session_id, MIN(id) AS first_replica FROM replicas GROUP BY session_id) f ON f.session_id = s.id
  JOIN replicas r ON r.id = f.first_replica
  SET s.country = r.country;
