import { describe, expect, it } from "vitest";
import { secretName } from "../../lib/plan/cluster";
import { planTopology } from "../../lib/plan/topology";
import type { InfrastructureInput } from "../../lib/schema/infrastructure";
import { parseStack } from "../../lib/schema/stack";
import { filesPerHost, planSteps, type StepPlan } from "../../lib/steps/plan";
import { plannedFacts } from "../../lib/steps/planned-facts";
import type { CommandStep } from "../../lib/steps/step";

/**
 * Sites with code in the step plan: where their deploy, workers and schedule steps run, what each
 * waits for, and what they render, per phase. No Pulumi, no mocks.
 */

const existing = (roles: Record<string, number>) =>
  Object.fromEntries(Object.entries(roles).map(([role, count]) => [role, Array.from({ length: count }, (_, index) => ({ address: `198.18.0.${index + 2}` }))]));
const code = { repository: "git://198.18.0.1/sample-php-app.git", migrate: "php bin/console migrate" };
const shop = {
  domain: "shop.example.com",
  database: {},
  php: { memoryLimit: "96M", extensions: ["mysql", "redis"] },
  pool: { maxChildren: 2 },
  code,
  workers: [{ name: "queue", command: "php bin/console queue:work", processes: 2 }],
  schedule: "laravel",
};
const docs = { domain: "docs.example.com", kind: "static", code: { archive: "/srv/docs.tar.gz", publicDirectory: "." } };
const blog = { domain: "blog.example.com", php: { memoryLimit: "96M" }, pool: { maxChildren: 2 } };

function plan(infrastructure: InfrastructureInput, sites: unknown[]): StepPlan {
  return planSteps(parseStack({ target: "existing", ...infrastructure, sites }), planTopology(parseStack({ target: "existing", ...infrastructure, sites })));
}

/** The steps of sites with code and of the code's runtime, per host, as `name ← dependencies [secrets]`. */
function codeGraph(steps: StepPlan): Record<string, string[]> {
  const byHost: Record<string, string[]> = {};
  for (const step of steps.steps) {
    if (!/-(deploy|workers|code-runtime)$/.test(step.name) && !(step.host.startsWith("worker") && /site-|code-/.test(step.name))) continue;
    const local = (name: string) => (name.startsWith(`${step.host}-`) ? name.slice(step.host.length + 1) : name);
    const secrets = step.secrets.length > 0 ? ` [${step.secrets.map(secretName).join(", ")}]` : "";
    (byHost[step.host] ??= []).push(`${local(step.name)} ← ${step.dependsOn.map(local).join(", ")}${secrets}`);
  }
  return byHost;
}

const command = (steps: StepPlan, name: string): CommandStep => {
  const step = steps.steps.find((candidate) => candidate.name === name);
  if (step?.kind !== "command") return expect.fail(`no command step ${name}`);
  return step;
};

describe("sites with code in the step plan", () => {
  it("single: the box deploys each site with code after its env, Redis and workers, and runs the workers and the schedule itself", () => {
    const steps = plan({ phase: "single", hosts: existing({ web: 1 }) }, [shop, docs, blog]);
    expect(codeGraph(steps)).toEqual({
      "web-1": [
        "site-shop_example_com-workers ← site-shop_example_com",
        "site-shop_example_com-deploy ← site-shop_example_com, site-shop_example_com-env, redis, site-shop_example_com-workers",
        // One deploy at a time, across sites too.
        "site-docs_example_com-deploy ← site-docs_example_com, site-shop_example_com-deploy",
      ],
    });
    const files = filesPerHost(steps, plannedFacts(steps))
      .get("web-1")!
      .map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining([
        "/usr/local/sbin/megaweb-deploy",
        "/etc/megaweb/deploy/shop_example_com.conf",
        "/etc/megaweb/deploy/docs_example_com.conf",
        "/etc/systemd/system/megaweb-worker-shop_example_com_queue@.service",
        "/etc/systemd/system/megaweb-schedule-shop_example_com_laravel.timer",
      ]),
    );
  });

  it("four-server: web-1 deploys and migrates first, the worker host deploys after it and alone runs the workers and the schedule, from its own runtime, account and .env", () => {
    const steps = plan({ phase: "four-server", hosts: existing({ web: 1, redis: 1, mysql: 1, worker: 1 }) }, [shop, blog]);
    expect(codeGraph(steps)).toEqual({
      "web-1": ["site-shop_example_com-deploy ← site-shop_example_com, site-shop_example_com-env, redis-1-redis"],
      "worker-1": [
        "code-runtime ← firewall",
        "site-shop_example_com ← code-runtime",
        "site-shop_example_com-env ← site-shop_example_com, mysql-1-db-shop_example_com, web-1-redis-move [redis, mysql:shop.example.com]",
        "site-shop_example_com-workers ← site-shop_example_com",
        "site-shop_example_com-deploy ← site-shop_example_com, site-shop_example_com-env, redis-1-redis, site-shop_example_com-workers, web-1-site-shop_example_com-deploy",
      ],
    });
    // Only the worker host restarts the workers after a switch; the web host has none to restart.
    const settings = (host: string) => command(steps, `${host}-site-shop_example_com-deploy`).render(plannedFacts(steps)).files[1]!.content;
    expect(settings("web-1")).toContain("worker_units=()\n");
    expect(settings("worker-1")).toContain("worker_units=(megaweb-worker-shop_example_com_queue@1.service megaweb-worker-shop_example_com_queue@2.service)\n");
    const runtime = command(steps, "worker-1-code-runtime").render(plannedFacts(steps)).create;
    expect(runtime).toContain("apt_install_stopped composer curl git php8.2-cli php8.2-mysql php8.2-redis redis-tools\n");
    expect(runtime).not.toMatch(/apt_install_stopped .*(nginx|fpm)/);
  });

  it("horizontal: the site's deploy steps run one host after another, web nodes first, and the schedule runs on the first worker host only", () => {
    const steps = plan({ phase: "horizontal", nodes: { web: 2, worker: 2 }, hosts: existing({ loadbalancer: 1, web: 2, redis: 1, mysql: 1, worker: 2 }) }, [
      shop,
    ]);
    const deploys = steps.steps.filter((step) => step.name.endsWith("-deploy"));
    expect(deploys.map((step) => [step.name, step.dependsOn.find((name) => name.endsWith("-deploy"))])).toEqual([
      ["web-1-site-shop_example_com-deploy", undefined],
      ["web-2-site-shop_example_com-deploy", "web-1-site-shop_example_com-deploy"],
      ["worker-1-site-shop_example_com-deploy", "web-2-site-shop_example_com-deploy"],
      ["worker-2-site-shop_example_com-deploy", "worker-1-site-shop_example_com-deploy"],
    ]);
    const timers = (host: string) =>
      command(steps, `${host}-site-shop_example_com-workers`)
        .render(plannedFacts(steps))
        .files.filter((file) => file.path.endsWith(".timer"));
    expect(timers("worker-1")).toHaveLength(1);
    expect(timers("worker-2")).toHaveLength(0);
  });

  it("horizontal behind HAProxy: one deploy at a time across sites, so at most one node is drained, each after its node's balancer agent", () => {
    const steps = plan({ phase: "horizontal", nodes: { web: 2, worker: 1 }, hosts: existing({ loadbalancer: 1, web: 2, redis: 1, mysql: 1, worker: 1 }) }, [
      shop,
      docs,
    ]);
    const deploys = steps.steps.filter((step) => step.name.endsWith("-deploy"));
    expect(deploys.map((step) => [step.name, step.dependsOn.filter((name) => name.endsWith("-deploy") || name.endsWith("-balancer"))])).toEqual([
      ["web-1-site-shop_example_com-deploy", ["web-1-balancer"]],
      ["web-2-site-shop_example_com-deploy", ["web-1-site-shop_example_com-deploy", "web-2-balancer"]],
      ["worker-1-site-shop_example_com-deploy", ["web-2-site-shop_example_com-deploy"]],
      ["web-1-site-docs_example_com-deploy", ["worker-1-site-shop_example_com-deploy", "web-1-balancer"]],
      ["web-2-site-docs_example_com-deploy", ["web-1-site-docs_example_com-deploy", "web-2-balancer"]],
    ]);
    // The deploy script drains through megaweb-drain, which the balancer step installs on web nodes only.
    const at = plannedFacts(steps);
    expect(command(steps, "web-1-site-shop_example_com-deploy").render(at).files[0]!.content).toContain("drain=/usr/local/sbin/megaweb-drain\n");
    expect(
      command(steps, "web-1-balancer")
        .render(at)
        .files.map((file) => file.path),
    ).toContain("/usr/local/sbin/megaweb-drain");
  });

  it("removes a site's workers and deploy settings with the site: both steps undo themselves", () => {
    const steps = plan({ phase: "single", hosts: existing({ web: 1 }) }, [shop]);
    const at = plannedFacts(steps);
    expect(command(steps, "web-1-site-shop_example_com-workers").render(at).delete).toContain("every unit it had here stops and goes");
    expect(command(steps, "web-1-site-shop_example_com-deploy").render(at).delete).toContain("rm -f /etc/megaweb/deploy/shop_example_com.conf");
  });

  it("gives a site with code no document root directory (megaweb-deploy links current there) and its host git, composer and redis-tools", () => {
    const steps = plan({ phase: "single", hosts: existing({ web: 1 }) }, [shop, blog]);
    const at = plannedFacts(steps);
    expect(command(steps, "web-1-site-shop_example_com").render(at).create).not.toMatch(/install -d .*\/var\/www\/shop_example_com\/current/);
    expect(command(steps, "web-1-site-blog_example_com").render(at).create).toContain(
      "install -d -m 0750 -o blog_example_com -g www-data /var/www/blog_example_com/public",
    );
    expect(command(steps, "web-1-web").render(at).create).toMatch(/apt_install_stopped .*\bcomposer curl git\b.*\bredis-tools\b/);
  });

  it("deploys on the step's update only: the step holds the site's settings, so a new ref changes it and a second run of the same config does not", () => {
    const at = (steps: StepPlan) => command(steps, "web-1-site-shop_example_com-deploy").render(plannedFacts(steps)).create;
    const before = at(plan({ phase: "single", hosts: existing({ web: 1 }) }, [shop]));
    expect(at(plan({ phase: "single", hosts: existing({ web: 1 }) }, [shop]))).toBe(before);
    const moved = at(plan({ phase: "single", hosts: existing({ web: 1 }) }, [{ ...shop, code: { ...code, ref: "v2" } }]));
    expect(moved).not.toBe(before);
    expect(moved).toContain("ref='v2'");
    const pinned = at(plan({ phase: "single", hosts: existing({ web: 1 }) }, [{ ...shop, code: { ...code, release: "3f2a9c81d0b4-7e21aa" } }]));
    expect(pinned).toContain("pinned_release=3f2a9c81d0b4-7e21aa");
  });
});
