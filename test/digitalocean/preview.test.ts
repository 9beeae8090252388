import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Preview, Workspace } from "../engine/pulumi";
import { digitalOceanWorkspace, writeDigitalOceanStack } from "./stack-config";

/**
 * Every DigitalOcean phase previewed by the real engine with the upstream DigitalOcean provider,
 * offline: the provider checks each input against its schema (a mock accepts any name or type),
 * and nothing calls the API, so a dummy token does.
 */

/**
 * The warnings expected: the engine says once per run that it takes the providers from PATH, and
 * npm serves @pulumi/digitalocean 4.80.1 while the provider built here is 4.76.0 (shared/upstream/SOURCES.md).
 */
const expectedWarnings = [
  /^warning: using pulumi-resource-(command|digitalocean) from \$PATH/,
  /resource plugin digitalocean is expected to have version >=4\.80\.1, but has 4\.76\.0/,
];

/**
 * Droplets are the plan's hosts (`megaweb plan`); tags are the cluster's and one per role; firewalls one per role. The
 * monitoring role adds a tag and a firewall to a host the plan has, never a droplet.
 */
const variants: Record<string, { config: Record<string, unknown>; counts: Record<string, number> }> = {
  single: {
    config: { phase: "single" },
    counts: { Droplet: 1, Vpc: 1, SshKey: 1, Tag: 6, Firewall: 5, Project: 1 },
  },
  "four-server": {
    config: { phase: "four-server" },
    counts: { Droplet: 4, Vpc: 1, SshKey: 1, Tag: 6, Firewall: 5, Project: 1 },
  },
  "horizontal, DigitalOcean load balancer": {
    config: { phase: "horizontal" },
    counts: { Droplet: 8, Vpc: 1, SshKey: 1, Tag: 6, Firewall: 5, Project: 1, LoadBalancer: 1 },
  },
  "horizontal, HAProxy": {
    config: { phase: "horizontal", loadBalancer: { kind: "haproxy" } },
    counts: { Droplet: 9, Vpc: 1, SshKey: 1, Tag: 7, Firewall: 6, Project: 1, ReservedIp: 1, ReservedIpAssignment: 1 },
  },
  "ha, DigitalOcean load balancer": {
    config: { phase: "ha" },
    counts: { Droplet: 19, Vpc: 1, SshKey: 1, Tag: 7, Firewall: 6, Project: 1, LoadBalancer: 1 },
  },
  "ha, HAProxy": {
    config: { phase: "ha", loadBalancer: { kind: "haproxy" } },
    counts: { Droplet: 21, Vpc: 1, SshKey: 1, Tag: 8, Firewall: 7, Project: 1, ReservedIp: 1, ReservedIpAssignment: 1 },
  },
};

/** DigitalOcean resources of a preview by their short type name (`Droplet`, `Vpc`, …). */
function digitalOceanCounts(preview: Preview): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const step of preview.steps) {
    const type = step.newState?.type ?? step.oldState?.type ?? "";
    if (!type.startsWith("digitalocean:")) continue;
    const name = type.split(":").at(-1)!;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

describe("DigitalOcean phases under the real DigitalOcean provider, offline", { timeout: 600_000 }, () => {
  let workspace: Workspace;

  beforeAll(async () => {
    workspace = await digitalOceanWorkspace();
  });

  afterAll(async () => {
    await workspace?.remove();
  });

  for (const [variant, { config, counts }] of Object.entries(variants)) {
    it(`${variant}: every resource passes the provider's checks, and the counts by type are the plan's`, async () => {
      await writeDigitalOceanStack(workspace, config);
      const preview = await workspace.preview();
      const problems = (preview.diagnostics ?? []).filter(
        (diagnostic) => diagnostic.severity !== "info" && !expectedWarnings.some((warning) => warning.test(diagnostic.message)),
      );
      expect(problems).toEqual([]);
      expect(digitalOceanCounts(preview)).toEqual(counts);
      expect(preview.changeSummary.create).toBe(preview.steps.length);
    });
  }

  it("ha, HAProxy: both balancers get the reserved IP's token in a secret-only step, then keepalived", async () => {
    await writeDigitalOceanStack(workspace, variants["ha, HAProxy"]!.config);
    const preview = await workspace.preview();
    const steps = preview.steps.filter((step) => step.newState?.type === "command:remote:Command").map((step) => step.urn.split("::").at(-1)!);
    for (const host of ["loadbalancer-1", "loadbalancer-2"]) {
      expect(steps).toContain(`megaweb-test-provisioning-${host}-reserved-ip-token`);
      expect(steps).toContain(`megaweb-test-provisioning-${host}-keepalived`);
    }
  });
});
