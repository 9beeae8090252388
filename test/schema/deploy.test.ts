import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cronCalendar } from "../../lib/schema/deploy";
import { parseStack } from "../../lib/schema/stack";
import { problems } from "./problems";

const domain = "shop.example.com";
const repository = "https://git.example.com/shop.git";
const site = (extra: Record<string, unknown>) => ({ sites: [{ domain, ...extra }] });

describe("a site's code", () => {
  it("is absent unless asked for, and then the site has no workers or schedule", () => {
    const parsed = parseStack(site({})).sites[0]!;
    expect(parsed.code).toBeUndefined();
    expect(parsed).toMatchObject({ workers: [], schedule: [] });
  });

  it("defaults to the main branch, a public/ webroot, storage shared, 5 releases and a 15 minute limit", () => {
    expect(parseStack(site({ code: { repository } })).sites[0]!.code).toEqual({
      repository,
      ref: "main",
      stripComponents: 0,
      publicDirectory: "public",
      shared: { directories: ["storage"], files: [] },
      keepReleases: 5,
      timeout: "15m",
    });
  });

  it("takes every git URL form a host's git can fetch", () => {
    for (const url of [
      "https://git.example.com/shop.git",
      "ssh://git@git.example.com:2222/shop.git",
      "git://127.0.0.1:9418/shop.git",
      "file:///srv/git/shop.git",
      "git@git.example.com:team/shop.git",
    ]) {
      expect(problems(site({ code: { repository: url } }))).toEqual([]);
    }
  });

  it("takes an archive by path or URL, with leading directories stripped", () => {
    expect(parseStack(site({ code: { archive: "/srv/builds/shop-1.4.2.tar.gz", stripComponents: 1 } })).sites[0]!.code).toMatchObject({
      archive: "/srv/builds/shop-1.4.2.tar.gz",
      ref: undefined,
      stripComponents: 1,
    });
    expect(problems(site({ code: { archive: "https://releases.example.com/shop-1.4.2.tar.gz" } }))).toEqual([]);
  });

  it("refuses a URL with a password, which would sit in the deploy config and the preview", () => {
    expect(problems(site({ code: { repository: "https://deploy:s3cret@git.example.com/shop.git" } }))).toEqual([
      `sites[0].code.repository: "https://deploy:s3cret@git.example.com/shop.git" holds a password; use an SSH deploy key (ssh://…) or a URL without credentials`,
    ]);
  });

  it("refuses a URL that is not one git fetches, and a ref git would read as an option", () => {
    expect(problems(site({ code: { repository: "ftp://git.example.com/shop.git", ref: "--upload-pack=touch /tmp/x" } }))).toEqual([
      `sites[0].code.repository: "ftp://git.example.com/shop.git" is not a git repository URL (https://, http://, ssh://, git://, file:// or user@host:path)`,
      `sites[0].code.ref: "--upload-pack=touch /tmp/x" is not a branch, tag or commit`,
    ]);
    expect(problems(site({ code: { repository: "https://git.example.com/shop.git; rm -rf /" } }))).toEqual([
      `sites[0].code.repository: "https://git.example.com/shop.git; rm -rf /" is not a git repository URL (no spaces, quotes or backslashes)`,
    ]);
  });

  it("names exactly one source", () => {
    expect(problems(site({ code: {} }))).toEqual(["sites[0].code.repository: is required: name the code with repository (git) or archive"]);
    expect(problems(site({ code: { repository, archive: "/srv/shop.tar.gz" } }))).toEqual([
      "sites[0].code.archive: cannot be given with repository; name one source",
    ]);
    expect(problems(site({ code: { archive: "/srv/shop.tar.gz", ref: "v1" } }))).toEqual(["sites[0].code.ref: applies only with repository"]);
    expect(problems(site({ code: { repository, stripComponents: 1 } }))).toEqual(["sites[0].code.stripComponents: applies only with archive"]);
    expect(problems(site({ code: { archive: "shop.tar.gz" } }))).toEqual([
      `sites[0].code.archive: "shop.tar.gz" is not an archive path on the host or an http(s) URL`,
    ]);
  });

  it("refuses commands on several lines, and empty ones", () => {
    expect(problems(site({ code: { repository, build: ["composer install\nrm -rf /"], migrate: "  " } }))).toEqual([
      `sites[0].code.build[0]: "composer install\\nrm -rf /" must be one line`,
      "sites[0].code.migrate: is empty",
    ]);
  });

  it("keeps shared paths inside the release, and .env is always the site's own", () => {
    expect(
      problems(site({ code: { repository, publicDirectory: "../etc", shared: { directories: ["storage", "storage/app"], files: [".env", "/etc/passwd"] } } })),
    ).toEqual([
      `sites[0].code.publicDirectory: "../etc" is not a directory inside the release (like public, or . for the release itself)`,
      `sites[0].code.shared.files[1]: "/etc/passwd" is not a path inside the release (like storage or public/uploads)`,
      `sites[0].code.shared.files[0]: ".env" is always linked to the site's own .env`,
      `sites[0].code.shared.directories[1]: "storage/app" lies in "storage", which is shared already`,
    ]);
    expect(parseStack(site({ code: { repository, publicDirectory: "." } })).sites[0]!.code!.publicDirectory).toBe(".");
  });

  it("pins a release by the id megaweb-deploy gives it", () => {
    expect(parseStack(site({ code: { repository, release: "3f2a9c81d0b4-7e21aa" } })).sites[0]!.code!.release).toBe("3f2a9c81d0b4-7e21aa");
    expect(problems(site({ code: { repository, release: "previous" } }))).toEqual([
      `sites[0].code.release: "previous" is not a release id (like 3f2a9c81d0b4-7e21aa, as megaweb-deploy --list shows)`,
    ]);
    expect(problems(site({ code: { repository, keepReleases: 1 } }))).toEqual(["sites[0].code.keepReleases: must be >=2"]);
  });

  it("refuses code on a proxy site and a documentRoot beside code", () => {
    expect(problems({ sites: [{ domain, kind: "proxy", proxy: { port: 3000 }, code: { repository } }] })).toEqual([
      "sites[0].code: applies only to php and static sites",
    ]);
    expect(problems(site({ documentRoot: "/srv/shop", code: { repository } }))).toEqual([
      "sites[0].documentRoot: cannot be set with code: the document root is current/<code.publicDirectory>",
    ]);
  });
});

describe("a site's workers", () => {
  it("default to one process named worker, restarted always, with a minute to finish a job", () => {
    expect(parseStack(site({ code: { repository }, workers: [{ command: "php artisan queue:work" }] })).sites[0]!.workers).toEqual([
      { name: "worker", command: "php artisan queue:work", processes: 1, restart: "always", stopTimeout: "60s" },
    ]);
  });

  it("need code, distinct names and a known restart policy", () => {
    expect(problems(site({ workers: [{ command: "php worker.php" }] }))).toEqual(["sites[0].workers: needs code: workers run the site's deployed release"]);
    expect(
      problems(
        site({
          code: { repository },
          workers: [{ command: "php a.php" }, { command: "php b.php", restart: "never", processes: 0 }, { name: "Mail Queue", command: "php c.php" }],
        }),
      ),
    ).toEqual([
      "sites[0].workers[1].processes: must be >=1",
      `sites[0].workers[1].restart: "never" is not a restart policy (always, on-failure)`,
      `sites[0].workers[2].name: "Mail Queue" is not a worker name (a-z, 0-9 and -, at most 32, starting with a letter)`,
    ]);
    expect(problems(site({ code: { repository }, workers: [{ command: "php a.php" }, { command: "php b.php" }] }))).toEqual([
      `sites[0].workers[1].name: "worker" is used by workers[0]; give each its own name`,
    ]);
  });
});

describe("a site's schedule", () => {
  it("is Laravel's scheduler each minute when it says laravel", () => {
    expect(parseStack(site({ code: { repository }, schedule: "laravel" })).sites[0]!.schedule).toEqual([
      { name: "laravel", cron: "* * * * *", command: "php artisan schedule:run", timeout: "1h" },
    ]);
  });

  it("needs code and takes cron expressions only", () => {
    expect(problems(site({ schedule: "laravel" }))).toEqual(["sites[0].schedule: needs code: scheduled commands run in the site's deployed release"]);
    expect(problems(site({ code: { repository }, schedule: "cron" }))).toEqual([
      `sites[0].schedule: "cron" is not a schedule (laravel, or a list of { cron, command })`,
    ]);
    expect(
      problems(
        site({
          code: { repository },
          schedule: [
            { cron: "*/5 * * *", command: "php a.php" },
            { name: "b", cron: "0 25 * * *", command: "php b.php" },
            { name: "c", cron: "0 3 1 * mon", command: "php c.php" },
            { name: "d", cron: "@reboot", command: "php d.php" },
          ],
        }),
      ),
    ).toEqual([
      `sites[0].schedule[0].cron: "*/5 * * *" is not a cron expression (five fields: minute hour day-of-month month day-of-week)`,
      `sites[0].schedule[1].cron: "0 25 * * *": "25" is out of range (0–23) in the hour field`,
      `sites[0].schedule[2].cron: "0 3 1 * mon" restricts both day of month and day of week; cron would run on either, systemd on both, so give one`,
      `sites[0].schedule[3].cron: "@reboot" is not a cron expression (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly are the macros)`,
    ]);
  });

  it("turns cron into calendars that systemd reads as cron means them", () => {
    const cases: [string, string, string][] = [
      // cron, OnCalendar, systemd's normalized form
      ["* * * * *", "*-*-* *:*:00", "*-*-* *:*:00"],
      ["*/5 * * * *", "*-*-* *:00/5:00", "*-*-* *:00/5:00"],
      ["15 3 * * *", "*-*-* 03:15:00", "*-*-* 03:15:00"],
      ["0 9-17 * * mon-fri", "Mon,Tue,Wed,Thu,Fri *-*-* 09..17:00:00", "Mon..Fri *-*-* 09..17:00:00"],
      ["30 2 1,15 jan,jul *", "*-01,07-01,15 02:30:00", "*-01,07-01,15 02:30:00"],
      ["0 0 * * 0,7", "Sun *-*-* 00:00:00", "Sun *-*-* 00:00:00"],
      ["5-50/15 * * * *", "*-*-* *:05..50/15:00", "*-*-* *:05..50/15:00"],
      ["@hourly", "*-*-* *:00:00", "*-*-* *:00:00"],
      ["0 */6 * * *", "*-*-* 00/6:00:00", "*-*-* 00/6:00:00"],
    ];
    for (const [cron, calendar, normalized] of cases) {
      expect(cronCalendar(cron)).toEqual({ calendar });
      const analyzed = execFileSync("systemd-analyze", ["calendar", calendar], { encoding: "utf8" });
      expect(/Normalized form: (.*)/.exec(analyzed)?.[1], cron).toBe(normalized);
    }
  });
});
