/**
 * How many connections HAProxy may hold, from what the host allows. HAProxy raises its own
 * open-files limit to what `maxconn` needs (two descriptors per proxied connection, plus
 * listeners, health checks and logs) and refuses to start when the hard limit is lower: a fixed
 * `maxconn 20000` asks for about 40 000 and fails where the hard limit is 20 000 (the local
 * machines), though a droplet allows far more. Memory bounds it too: every connection holds up to
 * two buffers.
 */

export interface HaproxyHostFacts {
  /** The hard open-files limit HAProxy's service gets (on systemd hosts, PID 1's unless the unit sets LimitNOFILE). */
  readonly openFilesLimit: number;
  readonly memoryMb: number;
  /** Backend servers; each costs descriptors for its health-check connections. */
  readonly servers: number;
}

export interface HaproxyLimits {
  readonly maxconn: number;
  /** What HAProxy will ask of the open-files limit for this maxconn, by the same reckoning. */
  readonly openFilesNeeded: number;
  readonly boundBy: "open files" | "memory";
}

/** Listeners, the stats socket, the log socket, the master's own: a flat reserve. */
const reservedDescriptors = 100;
/** Per backend server: its check connections (one per check rule, both backends) and one spare. */
const descriptorsPerServer = 8;
/** Two 16 kB buffers and the stream's own state per connection, rounded up. */
const connectionKb = 40;
/** HAProxy's share of a load balancer's memory; the rest is the OS, keepalived and page cache. */
const memoryShare = 0.5;
/** Below this a node cannot do its job, and the host is the problem. */
export const minimumMaxconn = 256;

export function sizeHaproxyLimits(facts: HaproxyHostFacts): HaproxyLimits {
  const overhead = reservedDescriptors + descriptorsPerServer * facts.servers;
  const byFiles = Math.floor((facts.openFilesLimit - overhead) / 2);
  const byMemory = Math.floor((facts.memoryMb * memoryShare * 1024) / connectionKb);
  const maxconn = Math.min(byFiles, byMemory);
  if (maxconn < minimumMaxconn) {
    throw new Error(
      `HAProxy would get maxconn ${maxconn} on this host (open files ${facts.openFilesLimit}, ${facts.memoryMb} MB): a load balancer needs at least ${minimumMaxconn}`,
    );
  }
  return { maxconn, openFilesNeeded: 2 * maxconn + overhead, boundBy: byFiles <= byMemory ? "open files" : "memory" };
}
