import { Readable } from "node:stream";
import type { PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { ROWS_PER_STATEMENT } from "./limits";

export type Row = (string | number | null)[];

/** One statement's result: the first AUTO_INCREMENT value it took and the rows it wrote. */
export interface Written {
  insertId: number;
  rows: number;
}

/**
 * How rows reach a table. A request's few rows go as multi-row INSERTs of ROWS_PER_STATEMENT;
 * the scale job's thousands per batch stream as LOAD DATA LOCAL INFILE, which MariaDB reads as
 * tab-separated text without parsing an INSERT statement per row, and which saves the app quoting
 * every value for SQL (the bench's figures are in bench/README.md).
 */
export type RowWriter = (connection: PoolConnection, table: string, columns: string[], rows: Row[]) => Promise<Written[]>;

export const insertRows: RowWriter = async (connection, table, columns, rows) => {
  const written: Written[] = [];
  for (let offset = 0; offset < rows.length; offset += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(offset, offset + ROWS_PER_STATEMENT);
    const [result] = await connection.query<ResultSetHeader>(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ?`, [chunk]);
    written.push({ insertId: result.insertId, rows: chunk.length });
  }
  return written;
};

export const loadRows: RowWriter = async (connection, table, columns, rows) => {
  if (rows.length === 0) return [];
  const text = rows.map((row) => row.map(tsvField).join("\t")).join("\n") + "\n";
  try {
    const [result] = await connection.query<ResultSetHeader>({
      sql: `LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE ${table} CHARACTER SET utf8mb4 (${columns.join(", ")})`,
      // The stream is the only thing mysql2 sends for the file name, whatever the server asks for.
      infileStreamFactory: () => Readable.from([Buffer.from(text)]),
    });
    if (result.affectedRows !== rows.length) throw new Error(`LOAD DATA into ${table} wrote ${result.affectedRows} rows of ${rows.length}`);
    // LOAD DATA's OK packet carries no insert id; LAST_INSERT_ID() has the first value it took.
    const [[first]] = await connection.query<RowDataPacket[]>("SELECT LAST_INSERT_ID() AS id");
    return [{ insertId: Number(first.id), rows: rows.length }];
  } catch (error) {
    if ((error as { code?: string }).code === "ER_NOT_ALLOWED_COMMAND") {
      throw new Error(`LOAD DATA LOCAL INFILE is disabled on the database server: set local_infile = ON for the scale job (${(error as Error).message})`);
    }
    throw error;
  }
};

const SPECIAL = /[\\\t\n]/;

/** LOAD DATA's default format: tab-separated, backslash escapes, \N for NULL. */
function tsvField(value: string | number | null): string {
  if (value === null) return "\\N";
  if (typeof value === "number") return String(value);
  return SPECIAL.test(value) ? value.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n") : value;
}
