/** The first edition's published limits, kept so its clients meet the same bounds. */
export const MAX_SESSIONS = 1_000_000;
export const MAX_REPLICAS_PER_SESSION = 10_000;
/** Rows per INSERT statement when creating in bulk. */
export const ROWS_PER_STATEMENT = 1000;
export const MAX_BATCH_SESSIONS = 1000;
export const MAX_BULK_URLS = 10_000;
/** Replica rows one synchronous request may create; more is a job's work (scale-million). */
export const MAX_REPLICAS_PER_REQUEST = 100_000;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Heartbeats one runner sends in one request: a host's replicas in one round trip. */
export const MAX_HEARTBEATS_PER_REQUEST = 5000;
