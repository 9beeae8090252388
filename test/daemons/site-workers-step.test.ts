import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putFiles } from "../../lib/steps/script";
import { resolveWebHost } from "../../lib/render/context";
import { renderSiteWorkers, renderSiteWorkersDeleteStep, renderSiteWorkersStep, type SiteWorkersRender } from "../../lib/render/site-workers";
import { renderTemplate } from "../../lib/render/template";
import type { SiteInput } from "../../lib/schema/site";
import { parseStack } from "../../lib/schema/stack";
import { removeRoot, scratchRoot } from "./harness";
import { hostCommands, type HostCommands } from "./host-commands";

/**
 * The workers step as the plan will run it, after the shared provisioning helpers, on a scratch
 * tree: the units it writes, what it enables, and what it stops and removes when the config
 * drops a worker, a process or a schedule, and when the site goes. systemctl is stood in for; the
 * site has no release yet, so nothing is started (the deploy starts the workers).
 */

const domain = "queue.workers.test";
let root: string;
let host: HostCommands;

const site = (extra: Partial<SiteInput>): SiteInput => ({ domain, code: { repository: "https://git.example.com/queue.git" }, ...extra });

function render(input: SiteInput): SiteWorkersRender {
  const stack = parseStack({ sites: [input] });
  const { host: context, sites } = resolveWebHost(stack.sites, { name: "worker-1", memoryMb: 2048, roles: ["worker"], root });
  return renderSiteWorkers(stack.sites[0]!, sites[0]!, context);
}

function runStep(body: string) {
  const script = [renderTemplate("provision/lib.sh", {}), `previous_dir=${root}/var/lib/megaweb/previous`, body].join("\n");
  const result = spawnSync("bash", ["-c", script], { encoding: "utf8", env: host.env, timeout: 60_000 });
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
}

const unitDir = () => join(root, "etc/systemd/system");
const user = "queue_workers_test";

beforeAll(() => {
  root = scratchRoot("workers-step");
  host = hostCommands(root, {});
});

afterAll(() => removeRoot(root));

describe("a site's workers step", () => {
  const full = () =>
    render(
      site({
        workers: [
          { name: "queue", command: "php artisan queue:work", processes: 2 },
          { name: "mail", command: "php artisan queue:work --queue=mail" },
        ],
        schedule: "laravel",
      }),
    );

  it("writes every unit, enables each worker instance and timer, and arms the timer before any release (its service waits for one)", () => {
    const rendered = full();
    runStep(renderSiteWorkersStep(rendered, putFiles));
    for (const file of rendered.files) expect(readFileSync(file.path, "utf8")).toBe(file.content);
    expect(host.bootChanges()).toEqual([
      "daemon-reload",
      `enable megaweb-worker-${user}_queue@1.service megaweb-worker-${user}_queue@2.service megaweb-worker-${user}_mail@1.service megaweb-schedule-${user}_laravel.timer`,
      `restart megaweb-schedule-${user}_laravel.timer`,
    ]);
  });

  it("changes nothing when run again", () => {
    const before = host.bootChanges().length;
    runStep(renderSiteWorkersStep(full(), putFiles));
    // enable and start are idempotent in systemd; no unit file changed, so no daemon-reload and no restart.
    expect(host.bootChanges().slice(before)).toEqual([
      `enable megaweb-worker-${user}_queue@1.service megaweb-worker-${user}_queue@2.service megaweb-worker-${user}_mail@1.service megaweb-schedule-${user}_laravel.timer`,
      `start megaweb-schedule-${user}_laravel.timer`,
    ]);
  });

  it("stops and removes a dropped worker, a dropped process and a dropped schedule", () => {
    const before = host.bootChanges().length;
    runStep(renderSiteWorkersStep(render(site({ workers: [{ name: "queue", command: "php artisan queue:work" }] })), putFiles));
    expect(host.bootChanges().slice(before)).toEqual([
      `disable --now megaweb-worker-${user}_queue@2.service`,
      `disable --now megaweb-worker-${user}_mail@1.service`,
      `disable --now megaweb-schedule-${user}_laravel.timer`,
      `disable --now megaweb-schedule-${user}_laravel.service`,
      "daemon-reload",
      `enable megaweb-worker-${user}_queue@1.service`,
    ]);
    expect(existsSync(join(unitDir(), `megaweb-worker-${user}_queue@.service`))).toBe(true);
    for (const gone of [`megaweb-worker-${user}_mail@.service`, `megaweb-schedule-${user}_laravel.service`, `megaweb-schedule-${user}_laravel.timer`]) {
      expect(existsSync(join(unitDir(), gone)), gone).toBe(false);
    }
  });

  it("removes everything the site had when it goes", () => {
    const rendered = render(site({ workers: [{ name: "queue", command: "php artisan queue:work" }] }));
    const before = host.bootChanges().length;
    runStep(renderSiteWorkersDeleteStep(rendered));
    expect(host.bootChanges().slice(before)).toEqual([`disable --now megaweb-worker-${user}_queue@1.service`, "daemon-reload"]);
    expect(existsSync(join(unitDir(), `megaweb-worker-${user}_queue@.service`))).toBe(false);
    expect(existsSync(rendered.manifest)).toBe(false);
  });
});
