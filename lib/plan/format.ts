import { describeSource } from "./firewall";
import type { TopologyPlan } from "./topology";

/** Columns padded to their widest cell, two spaces apart, no trailing blanks; `rightAligned` columns hold figures. */
export function table(rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const pad = (cell: string, column: number) => (rightAligned.includes(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!));
  return rows.map((row) => `  ${row.map(pad).join("  ")}`.trimEnd());
}

const dollars = (amount: number) => `$${amount.toFixed(2)}`;

/**
 * `megaweb plan` as text: hosts by role, the load balancer, the firewall matrix and the monthly
 * cost. Pure; `adminCidrs` spells out what "admin" means in the matrix.
 */
export function formatPlan(stackName: string, plan: TopologyPlan, adminCidrs: readonly string[]): string[] {
  const lines = [`${stackName}: phase ${plan.phase} on ${plan.target}${plan.target === "digitalocean" ? `, region ${plan.region}` : ""}`, "", "Hosts"];
  lines.push(
    ...table([
      ["HOST", "ROLES", "SIZE", "RAM", "REPLICATION"],
      ...plan.hosts.map((host) => [
        host.name,
        host.roles.join(","),
        plan.target === "digitalocean" ? host.size : "(existing)",
        plan.target === "digitalocean" ? `${host.memoryMb} MB` : "",
        [host.mysql && `mysql ${host.mysql}`, host.redis && `redis ${host.redis}`].filter(Boolean).join(", "),
      ]),
    ]),
  );
  if (plan.redis.sentinels.length > 0) {
    lines.push(`  Sentinels ${plan.redis.sentinels.join(", ")} watch ${plan.redis.primary} (quorum ${plan.redis.sentinelQuorum})`);
  }

  const balancer = plan.loadBalancer;
  if (balancer) {
    const front =
      balancer.kind === "digitalocean"
        ? "DigitalOcean load balancer"
        : `HAProxy on ${balancer.nodes.join(", ")}${balancer.reservedIp ? " behind a reserved IP" : ""}`;
    lines.push("", "Load balancer", `  ${front} → ${balancer.backends.join(", ")}`);
    lines.push(`  health check: GET ${balancer.healthCheck.path} on port ${balancer.healthCheck.port}`);
  }

  lines.push("", "Firewall (inbound TCP; all else dropped)");
  const admins = adminCidrs.length > 0 ? adminCidrs.join(" ") : "none";
  lines.push(
    ...table([
      ["ROLE", "PORT", "FROM", "WHY"],
      ...plan.firewall.map((rule) => [
        rule.role,
        String(rule.port),
        rule.sources.map((source) => (source.kind === "admin" ? `admin (${admins})` : describeSource(source))).join(", "),
        rule.purpose,
      ]),
    ]),
  );

  const { cost } = plan;
  lines.push("", `Monthly cost (${cost.currency}, list prices taken ${cost.pricesTakenOn})`);
  if (cost.lines.length === 0) {
    lines.push("  existing hosts: not priced here");
  } else {
    lines.push(
      ...table(
        [
          ...cost.lines.map((line) => [line.item, line.size, line.monthly === null ? "not in price table" : dollars(line.monthly)]),
          ["total", "", `${dollars(cost.monthlyTotal)}${cost.unpriced.length > 0 ? " + unpriced" : ""}`],
        ],
        [2],
      ),
    );
  }
  return lines;
}
