import { healthHost, type HealthCheck } from "./balanced-web";
import { agentIntervalMs, balancerAgentPort } from "./balancer-agent";
import { renderTemplate } from "./template";

/**
 * The balancers' side of `balanced-web.ts`: the two web backends of haproxy.cfg, with PROXY
 * protocol to every node and the nodes' health checks. A part of haproxy.cfg, which includes it in
 * place of its own backends.
 */

export interface WebBackendServer {
  /** The plan's host name, e.g. `web-2`. */
  readonly name: string;
  readonly address: string;
}

export interface WebBackendsInput {
  readonly servers: readonly WebBackendServer[];
  /** From `balancerHealthChecks`, the same for every node of a stack. */
  readonly checks: readonly HealthCheck[];
  /** @default 80 and 443, and the agent's port */
  readonly ports?: { readonly http: number; readonly https: number; readonly agent: number };
}

/** A node leaves the pool within fall × inter (plus a check's timeout) of failing. */
export const healthCheckTiming = { intervalMs: 2000, fall: 2, rise: 2, timeoutMs: 2000 } as const;

/** The longest a failing node stays in the pool: the check window the fault tests hold HAProxy to. */
export const checkWindowMs = healthCheckTiming.intervalMs * healthCheckTiming.fall + healthCheckTiming.timeoutMs;

export function renderWebBackends(input: WebBackendsInput): string {
  if (input.checks.length === 0) throw new Error("the web backends need at least one health check");
  return renderTemplate("haproxy/web-backends.cfg", {
    servers: input.servers,
    checks: input.checks,
    checkCount: input.checks.length,
    healthHost,
    httpPort: input.ports?.http ?? 80,
    httpsPort: input.ports?.https ?? 443,
    interval: `${healthCheckTiming.intervalMs}ms`,
    fall: healthCheckTiming.fall,
    rise: healthCheckTiming.rise,
    checkTimeout: `${healthCheckTiming.timeoutMs}ms`,
    agent: `agent-check agent-port ${input.ports?.agent ?? balancerAgentPort} agent-inter ${agentIntervalMs}ms`,
  });
}
