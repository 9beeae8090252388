import mysql from "mysql2/promise";
import type { Pool, PoolConnection } from "mysql2/promise";

/** The primary takes every write; reads rotate over the replicas when there are any. */
export interface Database {
  primary: Pool;
  replicas: Pool[];
  reader(): Pool;
  close(): Promise<void>;
}

export function createPool(url: string, connectionLimit: number): Pool {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit,
    // Dates leave and enter the database as UTC whatever the server's zone is.
    timezone: "Z",
    dateStrings: false,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    charset: "utf8mb4_general_ci",
  });
  pool.pool.on("connection", (connection) => {
    connection.query("SET time_zone = '+00:00'");
  });
  return pool;
}

export function openDatabase(primaryUrl: string, replicaUrls: string[], connectionLimit: number): Database {
  const primary = createPool(primaryUrl, connectionLimit);
  const replicas = replicaUrls.map((url) => createPool(url, connectionLimit));
  let next = 0;
  return {
    primary,
    replicas,
    reader() {
      if (replicas.length === 0) return primary;
      next = (next + 1) % replicas.length;
      return replicas[next];
    },
    async close() {
      await Promise.all([primary, ...replicas].map((pool) => pool.end()));
    },
  };
}

/** Attempts for work whose transactions may meet another's locks in the opposite order (InnoDB then rolls one back). */
export const RETRY_DEADLOCKS = 3;

/**
 * Runs work in one transaction on the primary; the change and its event commit together or not at all.
 * With `attempts`, a transaction InnoDB rolled back as a deadlock victim runs again from the start.
 */
export async function inTransaction<T>(db: Database, work: (connection: PoolConnection) => Promise<T>, attempts = 1): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction(db, work);
    } catch (error) {
      if (attempt >= attempts || (error as { code?: string }).code !== "ER_LOCK_DEADLOCK") throw error;
    }
  }
}

async function transaction<T>(db: Database, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
  const connection = await db.primary.getConnection();
  try {
    await connection.beginTransaction();
    const result = await work(connection);
    await connection.commit();
    return result;
  } catch (error) {
    await connection.rollback().catch(() => undefined);
    throw error;
  } finally {
    connection.release();
  }
}
