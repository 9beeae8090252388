/**
 * The WHERE of a list page: equality on each filter that is set, and `id > cursor` for keyset
 * pagination on the time-ordered id (page N costs the same as page 1 at a million rows).
 */
export function keysetWhere<F extends { cursor?: string }>(filter: F, columns: readonly (keyof F & string)[]): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const column of columns) {
    if (filter[column] !== undefined) {
      where.push(`${column} = ?`);
      params.push(filter[column]);
    }
  }
  if (filter.cursor !== undefined) {
    where.push("id > ?");
    params.push(filter.cursor);
  }
  return { sql: where.length ? `WHERE ${where.join(" AND ")}` : "", params };
}
