import type { RowDataPacket } from "mysql2/promise";
import { expect } from "vitest";
import type { RunningOrchestrator } from "./orchestrator";

/** The summary counts (summaries.ts) equal what grouping the rows gives. */
export async function expectSummariesExact(run: RunningOrchestrator) {
  const db = run.services.db.primary;
  const tileSize = run.config.MEGAWEB_HYPERGRID_TILE_SIZE;
  const [grouped] = await db.query<RowDataPacket[]>(
    "SELECT (seq - 1) DIV ? AS tile, status, COALESCE(country, '') AS country, COUNT(*) AS n FROM sessions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    [tileSize],
  );
  const [tiles] = await db.query<RowDataPacket[]>("SELECT tile, status, country, sessions AS n FROM session_tiles WHERE sessions <> 0 ORDER BY 1, 2, 3");
  expect(tiles.map((row) => ({ ...row, n: Number(row.n) }))).toEqual(grouped.map((row) => ({ ...row, n: Number(row.n) })));
  const [replicas] = await db.query<RowDataPacket[]>("SELECT status, COUNT(*) AS n FROM replicas GROUP BY status ORDER BY status");
  const [counts] = await db.query<RowDataPacket[]>("SELECT status, SUM(replicas) AS n FROM replica_counts GROUP BY status HAVING n <> 0 ORDER BY status");
  expect(counts.map((row) => [row.status, Number(row.n)])).toEqual(replicas.map((row) => [row.status, Number(row.n)]));
}
