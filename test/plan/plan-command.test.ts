import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { plan } from "../../cli/commands/plan";
import { StackFileError } from "../../cli/stack-file";

const fixture = path.join(__dirname, "fixtures", "Pulumi.prod.yaml");
const workdir = mkdtempSync(path.join(tmpdir(), "megaweb-plan-"));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

const sites = "  megaweb:sites:\n    - domain: shop.example.com\n";

async function runPlan(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await plan.run(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err };
}

describe("megaweb plan", () => {
  it("prints hosts by role, the load balancer, the firewall matrix and the cost", async () => {
    const { code, out } = await runPlan(fixture);
    expect(code).toBe(0);
    expect(out).toContain("prod: phase horizontal on digitalocean, region ams3");
    expect(out).toMatch(/^ {2}mysql-1 +mysql +s-2vcpu-4gb +4096 MB +mysql primary$/m);
    expect(out).toContain("DigitalOcean load balancer → web-1, web-2, web-3");
    expect(out).toContain("health check: GET /healthz on port 80");
    expect(out).toMatch(/^ {2}all +22 +admin \(203\.0\.113\.0\/24\) +SSH/m);
    expect(out).toMatch(/^ {2}mysql +3306 +web, worker, mysql +MySQL clients and replication$/m);
    expect(out).toMatch(/^ {2}total +\$96\.00$/m);
  });

  it("prints the same plan as JSON with --json", async () => {
    const { code, out } = await runPlan(fixture, "--json");
    expect(code).toBe(0);
    const printed = JSON.parse(out);
    expect(printed.hosts.map((host: { name: string }) => host.name)).toEqual(["web-1", "web-2", "web-3", "redis-1", "mysql-1", "worker-1", "worker-2"]);
    expect(printed.cost).toMatchObject({ monthlyTotal: 96, currency: "USD" });
    expect(printed.firewall).toContainEqual({
      role: "redis",
      port: 6379,
      sources: [
        { kind: "role", role: "web" },
        { kind: "role", role: "worker" },
        { kind: "role", role: "redis" },
      ],
      purpose: "Redis clients, replication and Sentinel probes",
    });
  });

  it("prints every provisioning step of every host with --steps, and the graph as JSON with --json", async () => {
    const { code, out } = await runPlan(fixture, "--steps");
    expect(code).toBe(0);
    expect(out).toContain("Steps, per host");
    expect(out).toMatch(/^ {2}mysql-1 \(mysql\)$/m);
    expect(out).toMatch(/^ {4}mysql +mariadb +firewall +- +sites; app; nodes; facts of 4 hosts; private IP of mysql-1$/m);
    expect(out).toMatch(
      /^ {4}site-shop_example_com-env +site-environment +site-shop_example_com, web-1-redis-move +redis +sites\[0\]\.database; facts of web-2; private IP of redis-1$/m,
    );
    const printed = JSON.parse((await runPlan(fixture, "--steps", "--json")).out);
    expect(printed.steps.find((step: { name: string }) => step.name === "web-2-web")).toEqual({
      name: "web-2-web",
      owner: "provisioning",
      host: "web-2",
      kind: "command",
      renderer: "nginx, php-fpm",
      dependsOn: ["web-2-firewall"],
      inputs: [{ kind: "facts", host: "web-2" }],
      reads: ["sites", "healthPath"],
      secrets: [],
    });
  });

  it("refuses a bad phase config with the field path and rule", async () => {
    const file = path.join(workdir, "Pulumi.bad.yaml");
    writeFileSync(file, `config:\n  megaweb:phase: ha\n  megaweb:nodes:\n    sentinels: 1\n${sites}`);
    const error = await runPlan(file).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(StackFileError);
    expect((error as StackFileError).lines).toEqual(["nodes.sentinels: the ha phase needs at least 3 Sentinels, got 1"]);
  });

  it("plans a DigitalOcean stack that has no SSH access yet: only `pulumi up` needs it", async () => {
    const file = path.join(workdir, "Pulumi.open.yaml");
    writeFileSync(file, `config:\n  megaweb:phase: single\n${sites}`);
    const result = await runPlan(file);
    expect(result.code).toBe(0);
    expect(result.out).toContain("web-1");
  });

  it("wants exactly one stack file", async () => {
    await expect(runPlan()).rejects.toThrow("expects exactly one stack file");
  });
});
