import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { putFiles } from "../../lib/steps/script";
import { resolveWebHost } from "../../lib/render/context";
import { planRollback, releaseRecipe, renderDeployScript, renderSiteDeploy, renderSiteDeployStep } from "../../lib/render/deploy";
import { renderWebHost } from "../../lib/render/files";
import { execStart, renderSiteWorkers, renderSiteWorkersDeleteStep, renderSiteWorkersStep } from "../../lib/render/site-workers";
import { parseStack } from "../../lib/schema/stack";
import type { SiteCode } from "../../lib/schema/deploy";
import { systemdWords } from "../daemons/units";

const stack = parseStack({
  sites: [
    {
      domain: "shop.example.com",
      database: {},
      code: {
        repository: "https://git.example.com/shop.git",
        ref: "v1.4.2",
        migrate: "php artisan migrate --force",
        shared: { files: ["database/app.sqlite"] },
      },
      workers: [
        { name: "queue", command: "php artisan queue:work --tries=3 --max-time=3600", processes: 2 },
        { name: "mail", command: "php artisan queue:work --queue=mail >> storage/logs/mail.log 2>&1", restart: "on-failure" },
      ],
      schedule: [...[{ name: "prune", cron: "15 3 * * *", command: "php artisan model:prune" }]],
    },
    { domain: "legacy.example.com", webServer: "apache", code: { archive: "/srv/builds/legacy.tar.gz", stripComponents: 1, publicDirectory: "." } },
  ],
});
const facts = { name: "web-1", memoryMb: 2048, roles: ["web", "worker"] as const };
const { host, sites: contexts } = resolveWebHost(stack.sites, { ...facts, roles: [...facts.roles] });
const [shop, legacy] = stack.sites as [(typeof stack.sites)[number] & { code: SiteCode }, (typeof stack.sites)[number] & { code: SiteCode }];
const workers = renderSiteWorkers(shop, contexts[0]!, host);
const deploy = renderSiteDeploy(shop, contexts[0]!, host, { workerUnits: workers.workerUnits });
const scratch = mkdtempSync(join(tmpdir(), "megaweb-deploy-render-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("a site with code", () => {
  it("is served from its live release, by nginx and by Apache", () => {
    const render = renderWebHost(stack, { ...facts, roles: [...facts.roles] });
    const nginx = render.sites[0]!.files.find((file) => file.path === "/etc/nginx/sites-enabled/shop_example_com.conf")!.content;
    expect(nginx).toContain("root /var/www/shop_example_com/current/public;");
    const apache = render.sites[1]!.files.find((file) => file.path.startsWith("/etc/apache2/"))!.content;
    expect(apache).toContain("DocumentRoot /var/www/legacy_example_com/current\n");
    // PHP's open_basedir still ends at the home: every release lies inside it.
    expect(render.sites[0]!.files.find((file) => file.path.includes("pool.d"))!.content).toContain("open_basedir] = /var/www/shop_example_com/\n");
  });

  it("gets its deploy settings beside the one host-wide script, as on the server", () => {
    expect(deploy.config.path).toBe("/etc/megaweb/deploy/shop_example_com.conf");
    expect(deploy.config.content).toMatchSnapshot("shop_example_com.conf");
    expect(renderSiteDeploy(legacy, contexts[1]!, host).config.content).toMatchSnapshot("legacy_example_com.conf");
    expect(deploy.deployCommand).toBe("/usr/local/sbin/megaweb-deploy shop_example_com");
    expect(deploy.rollbackCommand).toBe("/usr/local/sbin/megaweb-deploy shop_example_com --rollback");
    expect(renderDeployScript(host)).toMatchObject({ path: "/usr/local/sbin/megaweb-deploy", mode: "0755" });
  });

  it("names its FPM master's unit and its workers' instances for the restart after a switch", () => {
    expect(deploy.config.content).toContain("fpm_unit=php8.2-fpm-site@shop_example_com.service\n");
    expect(deploy.config.content).toContain(
      "worker_units=(megaweb-worker-shop_example_com_queue@1.service megaweb-worker-shop_example_com_queue@2.service megaweb-worker-shop_example_com_mail@1.service)\n",
    );
  });

  it("makes a new release id when the build or shared paths change, not when only the pin does", () => {
    const base = shop.code;
    expect(releaseRecipe({ ...base, release: "0123456789ab-abcdef" })).toBe(releaseRecipe(base));
    expect(releaseRecipe({ ...base, build: ["composer install --no-dev"] })).not.toBe(releaseRecipe(base));
    expect(releaseRecipe({ ...base, shared: { directories: ["storage", "public/uploads"], files: [] } })).not.toBe(releaseRecipe(base));
  });

  it("has a deploy script and step that pass shellcheck with the settings they read", () => {
    const script = renderDeployScript(host).content.replace(/^\. "\$config_dir\/\$site\.conf"$/m, deploy.config.content);
    const scriptFile = join(scratch, "megaweb-deploy");
    writeFileSync(scriptFile, script);
    const step = join(scratch, "site-deploy.sh");
    writeFileSync(step, `#!/bin/bash\n${renderSiteDeployStep(deploy, renderDeployScript(host), putFiles)}`);
    const checked = spawnSync("shellcheck", ["-s", "bash", "-e", "SC2034", scriptFile, step], { encoding: "utf8" });
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.status).toBe(0);
  });
});

describe("a site's worker and schedule units", () => {
  it("are one template per worker and a service and timer per scheduled command, as on the server", () => {
    expect(workers.files.map((file) => file.path)).toEqual([
      "/etc/systemd/system/megaweb-worker-shop_example_com_queue@.service",
      "/etc/systemd/system/megaweb-worker-shop_example_com_mail@.service",
      "/etc/systemd/system/megaweb-schedule-shop_example_com_prune.service",
      "/etc/systemd/system/megaweb-schedule-shop_example_com_prune.timer",
    ]);
    for (const file of workers.files) expect(file.content).toMatchSnapshot(file.path);
    expect(workers.timers).toEqual(["megaweb-schedule-shop_example_com_prune.timer"]);
  });

  it("leave the schedule to the one host the plan gives it", () => {
    const webOnly = renderSiteWorkers(shop, contexts[0]!, host, { schedule: false });
    expect(webOnly.timers).toEqual([]);
    expect(webOnly.files.some((file) => file.path.endsWith(".timer"))).toBe(false);
  });

  it("pass systemd's own verification, instances included", () => {
    const dir = mkdtempSync(join(scratch, "units-"));
    const paths = workers.files.map((file) => {
      // A template is verified through an instance of it, as systemd would start it.
      const path = join(dir, file.path.split("/").pop()!.replace("@.service", "@1.service"));
      // The site's user does not exist on this machine; root stands in so only the units' own settings are judged.
      writeFileSync(path, file.content.replace(/^(User|Group)=.*$/gm, "$1=root"));
      return path;
    });
    const verified = spawnSync("systemd-analyze", ["verify", ...paths], { encoding: "utf8", cwd: dir });
    expect(verified.stderr.split("\n").filter((line) => line !== "" && !/(mariadb|redis-server)\.service/.test(line))).toEqual([]);
    expect(verified.status).toBe(0);
  });

  it("run plain commands as they are and shell lines under /bin/sh, quoted as systemd unquotes", () => {
    expect(execStart("php artisan queue:work --tries=3")).toBe("php artisan queue:work --tries=3");
    expect(execStart(`php a.php >> "storage/logs/$HOME 100%.log" 2>&1`)).toBe(`/bin/sh -c "php a.php >> \\"storage/logs/$$HOME 100%%.log\\" 2>&1"`);
    for (const command of [
      "php artisan queue:work --tries=3",
      `php a.php >> "storage/logs/$HOME 100%.log" 2>&1`,
      String.raw`echo 'a\b' && printf "%s\n" $PATH`,
    ]) {
      const words = systemdWords(execStart(command));
      expect(words.length === 3 && words[0] === "/bin/sh" ? words[2] : words.join(" ")).toBe(command);
    }
  });

  it("have a step that writes them and a delete that removes them, both passing shellcheck", () => {
    const step = join(scratch, "site-workers.sh");
    writeFileSync(step, `#!/bin/bash\n${renderSiteWorkersStep(workers, putFiles)}\n${renderSiteWorkersDeleteStep(workers)}`);
    const checked = spawnSync("shellcheck", ["-s", "bash", "-e", "SC2034,SC2154", step], { encoding: "utf8" });
    expect(checked.stdout + checked.stderr).toBe("");
  });
});

describe("megaweb rollback's plan", () => {
  const listing = [
    "* 9c1e2f3a4b5d-7e21aa  2026-01-03T10:00:00Z  main at 9c1e2f3a4b5d: ship the cart",
    "  1f2e3d4c5b6a-7e21aa  2026-01-02T10:00:00Z  main at 1f2e3d4c5b6a: fix totals",
    "  0a0b0c0d0e0f-7e21aa  2026-01-01T10:00:00Z  main at 0a0b0c0d0e0f: first",
    "",
  ].join("\n");

  it("pins the release that was live before the current one", () => {
    expect(planRollback(0, listing)).toEqual({ configPath: "sites[0].code.release", release: "1f2e3d4c5b6a-7e21aa", from: "9c1e2f3a4b5d-7e21aa" });
  });

  it("says why there is nothing to roll back to", () => {
    expect(planRollback(2, listing.split("\n")[0]!)).toEqual(new Error("only release 9c1e2f3a4b5d-7e21aa is kept; there is nothing to roll back to"));
    expect(planRollback(2, "")).toEqual(new Error("no release of the site is live on the host"));
  });

  it("reads a calendar systemd agrees with for the timer", () => {
    const timer = workers.files.find((file) => file.path.endsWith(".timer"))!.content;
    const calendar = /^OnCalendar=(.*)$/m.exec(timer)![1]!;
    expect(execFileSync("systemd-analyze", ["calendar", calendar], { encoding: "utf8" })).toContain("Normalized form: *-*-* 03:15:00");
  });
});
