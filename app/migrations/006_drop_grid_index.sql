-- The hypergrid reads session_tiles now; this covering index only slowed every session insert.
ALTER TABLE sessions DROP KEY sessions_grid;
