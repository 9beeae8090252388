import type { Pool } from "mysql2/promise";
import { cached } from "./cache";
import { readTiles } from "./summaries";
import type { Services } from "./services";

export interface Tile {
  tile: number;
  count: number;
  dominant_status: string;
  dominant_country: string | null;
  statuses: Record<string, number>;
}

export interface HypergridSnapshot {
  tile_size: number;
  total_sessions: number;
  tile_count: number;
  tiles: Tile[];
  next_cursor: number | null;
  generated_at: string;
}

export const HYPERGRID_TTL_SECONDS = 5;

/**
 * Sessions in creation order, `tileSize` to a tile, from the session_tiles counts (summaries.ts)
 * kept with every write; pages are cut from one snapshot so a client paging through sees a
 * consistent grid.
 */
export async function computeHypergrid(pool: Pool, tileSize: number): Promise<Omit<HypergridSnapshot, "next_cursor">> {
  const rows = await readTiles(pool);
  const tiles = new Map<number, Tile & { topCountry: number; topStatus: number }>();
  const tileOf = (index: number) => {
    let tile = tiles.get(index);
    if (!tile) {
      tile = { tile: index, count: 0, dominant_status: "", dominant_country: null, statuses: {}, topCountry: 0, topStatus: 0 };
      tiles.set(index, tile);
    }
    return tile;
  };
  const countries = new Map<number, Map<string, number>>();
  for (const row of rows) {
    const tile = tileOf(row.tile);
    const n = row.sessions;
    tile.count += n;
    tile.statuses[row.status] = (tile.statuses[row.status] ?? 0) + n;
    if (row.country !== null) {
      const perCountry = countries.get(tile.tile) ?? new Map<string, number>();
      perCountry.set(row.country, (perCountry.get(row.country) ?? 0) + n);
      countries.set(tile.tile, perCountry);
    }
  }
  for (const tile of tiles.values()) {
    for (const [status, n] of Object.entries(tile.statuses)) {
      if (n > tile.topStatus) {
        tile.topStatus = n;
        tile.dominant_status = status;
      }
    }
    for (const [country, n] of countries.get(tile.tile) ?? []) {
      if (n > tile.topCountry) {
        tile.topCountry = n;
        tile.dominant_country = country;
      }
    }
  }
  const ordered = [...tiles.values()].sort((a, b) => a.tile - b.tile).map(({ topCountry: _c, topStatus: _s, ...tile }) => tile);
  return {
    tile_size: tileSize,
    total_sessions: ordered.reduce((sum, tile) => sum + tile.count, 0),
    tile_count: ordered.length,
    tiles: ordered,
    generated_at: new Date().toISOString(),
  };
}

export async function hypergrid(services: Services, page: { cursor?: number; limit: number }): Promise<HypergridSnapshot> {
  const tileSize = services.config.MEGAWEB_HYPERGRID_TILE_SIZE;
  const snapshot = await cached(services.redis, `megaweb:cache:hypergrid:${tileSize}`, HYPERGRID_TTL_SECONDS, () =>
    computeHypergrid(services.db.reader(), tileSize),
  );
  const from = page.cursor ?? 0;
  const start = snapshot.tiles.findIndex((tile) => tile.tile >= from);
  const tiles = start === -1 ? [] : snapshot.tiles.slice(start, start + page.limit);
  const after = start === -1 ? undefined : snapshot.tiles[start + page.limit];
  return { ...snapshot, tiles, next_cursor: after ? after.tile : null };
}
