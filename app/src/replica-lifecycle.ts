import type { PoolConnection } from "mysql2/promise";
import { appendEvents, type NewEvent } from "./events";
import { adjust, type ReplicaCountChange } from "./summaries";

export const replicaStatuses = ["pending", "starting", "running", "stopped", "failed"] as const;
export type ReplicaStatus = (typeof replicaStatuses)[number];
/** What a session's target counts: replicas placed and not yet ended. */
export const LIVE_STATUSES: readonly ReplicaStatus[] = ["pending", "starting", "running"];
export const liveStatusList = LIVE_STATUSES.map((status) => `'${status}'`).join(", ");

const RANK: Record<ReplicaStatus, number> = { pending: 0, starting: 1, running: 2, stopped: 3, failed: 3 };

export type TransitionCheck = { allowed: true; changes: boolean } | { allowed: false; reason: string; stop: boolean };

/**
 * A replica only moves forward: pending → starting → running → stopped | failed (a runner may skip a
 * step). An ended replica stays ended: whatever still runs it is told to stop, and its replacement
 * is already placed. Going back (running → starting) is refused but the replica keeps running.
 */
export function checkTransition(from: ReplicaStatus, to: ReplicaStatus): TransitionCheck {
  if (RANK[from] === 3) return { allowed: false, reason: `replica is ${from}; stop it`, stop: true };
  if (from === to) return { allowed: true, changes: false };
  if (RANK[to] < RANK[from]) return { allowed: false, reason: `replica is ${from} and cannot go back to ${to}`, stop: false };
  return { allowed: true, changes: true };
}

export interface ReplicaRow {
  id: string;
  session_id: string;
  status: ReplicaStatus;
  proxy_id: string | null;
}

export interface ReplicaChange {
  replica: ReplicaRow;
  to: ReplicaStatus;
  /** Why it ended, for stopped and failed. */
  reason?: string;
  proxyAtFault?: boolean;
}

/**
 * Writes transitions on the caller's transaction: each replica's new status, one statement per kind of
 * change; the live count of sessions that lost replicas, so the reconciler's `converged` index finds
 * them; and one `replica.status.changed` event per session and new status, in one insert.
 * Returns the sessions that lost live replicas.
 */
export async function applyReplicaChanges(connection: PoolConnection, tileSize: number, changes: ReplicaChange[]): Promise<string[]> {
  const started = changes.filter((change) => change.to === "starting" || change.to === "running");
  for (const to of ["starting", "running"] as const) {
    const ids = started.filter((change) => change.to === to).map((change) => change.replica.id);
    if (ids.length === 0) continue;
    await connection.query(
      `UPDATE replicas SET status = ?, last_heartbeat_at = CURRENT_TIMESTAMP(3)
         ${to === "running" ? ", started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3))" : ""}
       WHERE id IN (?)`,
      [to, ids],
    );
  }
  const ended = changes.filter((change) => change.to === "stopped" || change.to === "failed");
  const endGroups = groupBy(ended, (change) => JSON.stringify([change.to, change.reason ?? null, change.proxyAtFault === true]));
  for (const group of endGroups.values()) {
    const { to, reason, proxyAtFault } = group[0];
    await connection.query("UPDATE replicas SET status = ?, ended_at = CURRENT_TIMESTAMP(3), end_reason = ?, proxy_at_fault = ? WHERE id IN (?)", [
      to,
      reason ?? null,
      proxyAtFault ? 1 : 0,
      group.map((change) => change.replica.id),
    ]);
  }
  const lostBySession = new Map<string, number>();
  for (const change of ended) {
    if (change.replica.status !== "stopped" && change.replica.status !== "failed") {
      lostBySession.set(change.replica.session_id, (lostBySession.get(change.replica.session_id) ?? 0) + 1);
    }
  }
  const byLoss = groupBy([...lostBySession], ([, lost]) => String(lost));
  for (const [lost, sessions] of byLoss) {
    await connection.query("UPDATE sessions SET active_replica_count = GREATEST(active_replica_count - ?, 0) WHERE id IN (?)", [
      Number(lost),
      sessions.map(([sessionId]) => sessionId),
    ]);
  }
  const counts: ReplicaCountChange = {};
  for (const change of changes) {
    counts[change.replica.status] = (counts[change.replica.status] ?? 0) - 1;
    counts[change.to] = (counts[change.to] ?? 0) + 1;
  }
  await adjust(connection, tileSize, [], counts);
  await appendEvents(connection, transitionEvents(changes));
  return [...lostBySession.keys()];
}

function transitionEvents(changes: ReplicaChange[]): NewEvent[] {
  const groups = groupBy(changes, (change) => `${change.replica.session_id} ${change.to}`);
  return [...groups.values()].map((group) => {
    const from: Record<string, number> = {};
    for (const change of group) from[change.replica.status] = (from[change.replica.status] ?? 0) + 1;
    const reasons = [...new Set(group.flatMap((change) => (change.reason ? [change.reason] : [])))];
    return {
      aggregateType: "session",
      aggregateId: group[0].replica.session_id,
      type: "replica.status.changed",
      payload: {
        to: group[0].to,
        from,
        count: group.length,
        replicas: group.map((change) => change.replica.id),
        ...(reasons.length ? { reasons } : {}),
        ...(group.some((change) => change.proxyAtFault)
          ? { proxy_at_fault: group.filter((change) => change.proxyAtFault).map((change) => change.replica.proxy_id) }
          : {}),
      },
    };
  });
}

export function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = key(item);
    const group = groups.get(name);
    if (group) group.push(item);
    else groups.set(name, [item]);
  }
  return groups;
}
