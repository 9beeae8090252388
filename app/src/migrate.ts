import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import mysql from "mysql2/promise";
import { assetDir } from "./assets";

const LOCK_NAME = "megaweb_orchestrator_migrations";
const LOCK_TIMEOUT_SECONDS = 120;

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies every migration not yet recorded, once, even when several web nodes start together:
 * GET_LOCK serialises them on the primary, and whoever comes second finds the work done.
 * DDL commits implicitly on MySQL and MariaDB, so each file is recorded right after it ran.
 */
export async function migrate(primaryUrl: string, directory = assetDir("migrations")): Promise<MigrationResult> {
  const files = readdirSync(directory)
    .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
    .sort();
  const connection = await mysql.createConnection({ uri: primaryUrl, multipleStatements: true });
  try {
    const [lockRows] = await connection.query<mysql.RowDataPacket[]>("SELECT GET_LOCK(?, ?) AS acquired", [LOCK_NAME, LOCK_TIMEOUT_SECONDS]);
    if (lockRows[0].acquired !== 1) {
      throw new Error(`migrations: another process held the ${LOCK_NAME} lock for more than ${LOCK_TIMEOUT_SECONDS}s`);
    }
    try {
      await connection.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version VARCHAR(128) NOT NULL PRIMARY KEY,
           applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
         ) ENGINE=InnoDB`,
      );
      const [doneRows] = await connection.query<mysql.RowDataPacket[]>("SELECT version FROM schema_migrations");
      const done = new Set(doneRows.map((row) => String(row.version)));
      const result: MigrationResult = { applied: [], alreadyApplied: [] };
      for (const file of files) {
        const version = file.replace(/\.sql$/, "");
        if (done.has(version)) {
          result.alreadyApplied.push(version);
          continue;
        }
        await connection.query(readFileSync(path.join(directory, file), "utf8"));
        await connection.query("INSERT INTO schema_migrations (version) VALUES (?)", [version]);
        result.applied.push(version);
      }
      return result;
    } finally {
      await connection.query("SELECT RELEASE_LOCK(?)", [LOCK_NAME]);
    }
  } finally {
    await connection.end();
  }
}
