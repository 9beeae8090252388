import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { putFiles } from "../../lib/steps/script";
import { backupSites, renderBackupHost, renderBackupStep, type BackupHost } from "../../lib/render/backup";
import { resolveWebHost } from "../../lib/render/context";
import { parseStack } from "../../lib/schema/stack";

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBhY2t1cC1ob3N0LWtleS1mb3ItdGVzdHM root@backup";
const stack = parseStack({
  sites: [
    { domain: "shop.example.com", database: {} },
    { domain: "docs.example.com", kind: "static", documentRoot: "/srv/docs" },
  ],
  backups: { schedule: "*-*-* 03:15", retention: { daily: 7, weekly: 4 }, destination: { kind: "sftp" } },
  nodes: { backup: 1 },
});
const { sites: contexts } = resolveWebHost(stack.sites, { name: "web-1", memoryMb: 2048, roles: ["web"] });
const singleBox: BackupHost = {
  name: "web-1",
  backups: stack.backups!,
  backupHost: { address: "10.20.0.9", hostKey },
  sites: backupSites(stack.sites, contexts, { files: true, databases: true }),
  appDatabase: "megaweb",
  redis: { port: 6379 },
};
const file = (render: ReturnType<typeof renderBackupHost>, suffix: string) => render.files.find((each) => each.path.endsWith(suffix))!;

describe("a host's backup files", () => {
  const render = renderBackupHost(singleBox);

  it("are the config, the SSH settings, both scripts and the units, as on the server", () => {
    expect(render.files.map((each) => `${each.path} ${each.mode ?? "0644"}`)).toEqual([
      "/etc/megaweb/backup/backup.conf 0600",
      "/etc/megaweb/backup/ssh_config 0644",
      "/etc/megaweb/backup/known_hosts 0644",
      "/usr/local/sbin/megaweb-backup 0700",
      "/usr/local/sbin/megaweb-restore 0700",
      "/etc/systemd/system/megaweb-backup.service 0644",
      "/etc/systemd/system/megaweb-backup.timer 0644",
    ]);
    for (const each of render.files) expect(each.content).toMatchSnapshot(each.path);
  });

  it("save each site's home (and a document root outside it) and every database, and keep the retention", () => {
    const config = file(render, "backup.conf").content;
    expect(config).toContain("export RESTIC_REPOSITORY='sftp:megaweb-backup:/srv/megaweb-backup/web-1'");
    expect(config).toContain("databases=(shop_example_com megaweb)");
    expect(config).toContain(
      "declare -A site_paths=([shop.example.com]='/var/www/shop_example_com' [docs.example.com]='/var/www/docs_example_com /srv/docs' )",
    );
    expect(config).toContain("retention=(--keep-daily 7 --keep-weekly 4)");
    expect(file(render, "known_hosts").content).toBe(`10.20.0.9 ${hostKey.split(" ").slice(0, 2).join(" ")}\n`);
    expect(file(render, "megaweb-backup.timer").content).toContain("OnCalendar=*-*-* 03:15\n");
  });

  it("pass shellcheck with the config they source, and systemd parses the timer's calendar", () => {
    const config = file(render, "backup.conf");
    for (const script of ["megaweb-backup", "megaweb-restore"]) {
      const sourced = file(render, script).content.replace(`. ${config.path}\n`, `${config.content}\n`);
      expect(sourced).not.toContain(`. ${config.path}`);
      // SC1090: the bucket's secrets file, which only exists on the host. SC2034: the config is shared, each script reads its part.
      const check = spawnSync("shellcheck", ["-s", "bash", "-e", "SC1090,SC2034", "-"], { input: sourced, encoding: "utf8" });
      expect(check.stdout, script).toBe("");
    }
    const calendar = /^OnCalendar=(.*)$/m.exec(file(render, "megaweb-backup.timer").content)![1]!;
    expect(() => execFileSync("systemd-analyze", ["calendar", calendar], { stdio: "pipe" })).not.toThrow();
  });

  it("hold no secret: the password and a bucket's secret key are files of their own", () => {
    const spaces = renderBackupHost({
      ...singleBox,
      backups: {
        ...stack.backups!,
        destination: {
          kind: "s3",
          endpoint: "https://fra1.digitaloceanspaces.com",
          bucket: "example-backups",
          prefix: "megaweb",
          accessKeyId: "DO00ABCDEFGHIJKLMNOP",
        },
      },
    });
    expect(spaces.files.map((each) => each.path)).not.toContain("/etc/megaweb/backup/ssh_config");
    const config = file(spaces, "backup.conf").content;
    expect(config).toContain("export RESTIC_REPOSITORY='s3:https://fra1.digitaloceanspaces.com/example-backups/megaweb/web-1'");
    expect(config).toContain("export AWS_ACCESS_KEY_ID=DO00ABCDEFGHIJKLMNOP");
    expect(config).toContain("secrets_env=/etc/megaweb/backup/s3.env");
    expect(config).toContain("export RESTIC_PASSWORD_FILE=/etc/megaweb/backup/restic-password");
    expect(spaces).toMatchObject({ passwordFile: "/etc/megaweb/backup/restic-password", secretsFile: "/etc/megaweb/backup/s3.env", identityFile: undefined });
  });

  it("on a web host of a larger phase hold only the files, and on the MySQL primary only the databases", () => {
    const web = renderBackupHost({
      ...singleBox,
      sites: backupSites(stack.sites, contexts, { files: true, databases: false }),
      appDatabase: undefined,
      redis: undefined,
    });
    expect(file(web, "backup.conf").content).toMatch(/^databases=\(\)$/m);
    expect(file(web, "backup.conf").content).toMatch(/^redis_port=$/m);
    const mysql = renderBackupHost({
      ...singleBox,
      name: "mysql-1",
      sites: backupSites(stack.sites, contexts, { files: false, databases: true }),
      redis: undefined,
    });
    expect(file(mysql, "backup.conf").content).toContain("databases=(shop_example_com megaweb)");
    expect(file(mysql, "backup.conf").content).toContain("declare -A site_paths=([shop.example.com]='' )");
  });

  it("refuses to render an SFTP destination with no server to send to", () => {
    expect(() => renderBackupHost({ ...singleBox, backupHost: undefined })).toThrow("web-1: backups go to the stack's backup host, but none was given");
  });

  it("install through a step that makes the host's key and enables the timer", () => {
    const step = renderBackupStep(render, "web-1", putFiles);
    expect(step).toContain("ssh-keygen -q -t ed25519 -N '' -C 'megaweb-backup@web-1' -f /etc/megaweb/backup/id_ed25519");
    expect(step).toContain("systemctl enable --now megaweb-backup.timer");
    expect(() => execFileSync("bash", ["-n"], { input: step, stdio: "pipe" })).not.toThrow();
  });
});
