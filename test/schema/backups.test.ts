import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { backupSecretProblems, Backups } from "../../lib/schema/backups";
import { formatProblem } from "../../lib/schema/errors";
import { parseStack, programSecretKeys, stackInputFromConfig } from "../../lib/schema/stack";
import { problems } from "./problems";

const sftp = { kind: "sftp" } as const;
const spaces = { kind: "s3", endpoint: "https://fra1.digitaloceanspaces.com", bucket: "example-backups", accessKeyId: "DO00ABCDEFGHIJKLMNOP" } as const;

describe("the backups section", () => {
  it("is absent unless asked for", () => {
    expect(parseStack({}).backups).toBeUndefined();
  });

  it("backs up daily and keeps 7 daily snapshots on the stack's backup host by default", () => {
    expect(parseStack({ nodes: { backup: 1 }, backups: { destination: sftp } }).backups).toEqual({
      schedule: "daily",
      retention: { last: 0, hourly: 0, daily: 7, weekly: 0, monthly: 0 },
      destination: { kind: "sftp", port: 22, user: "megaweb-backup", path: "/srv/megaweb-backup" },
    });
  });

  it("takes a DigitalOcean Spaces bucket", () => {
    expect(parseStack({ backups: { destination: spaces, retention: { daily: 14, weekly: 8 } } }).backups).toMatchObject({
      destination: { ...spaces, prefix: "megaweb" },
      retention: { daily: 14, weekly: 8 },
    });
  });

  it("has a schedule systemd parses, by default and in the examples", () => {
    for (const schedule of [Backups.parse({ destination: sftp }).schedule, "*-*-* 03:15", "Mon..Fri 02:00", "hourly"]) {
      expect(() => execFileSync("systemd-analyze", ["calendar", schedule], { stdio: "pipe" })).not.toThrow();
    }
  });

  it("rejects a schedule that would break out of the timer's line", () => {
    expect(problems({ backups: { destination: sftp, schedule: "daily\nExecStart=/bin/sh" } })).toEqual([
      `backups.schedule: "daily\\nExecStart=/bin/sh" is not a systemd calendar expression (like daily or *-*-* 03:15)`,
    ]);
  });

  it("rejects a retention that keeps nothing, and a fractional or negative count", () => {
    expect(problems({ backups: { destination: sftp, retention: { daily: 0 } } })).toEqual([
      "backups.retention: keeps no snapshot at all; keep at least one last, hourly, daily, weekly or monthly snapshot",
    ]);
    expect(problems({ backups: { destination: sftp, retention: { daily: 1.5, weekly: -1 } } })).toEqual([
      "backups.retention.daily: 1.5 is not a whole number of daily snapshots",
      "backups.retention.weekly: -1 is negative",
    ]);
  });

  it("asks for the host key of an SFTP server outside the stack", () => {
    expect(problems({ backups: { destination: { kind: "sftp", host: "backup.example.com" } } })).toEqual([
      "backups.destination.hostKey: is required with host (ssh-keyscan -t ed25519 <host> prints it)",
    ]);
    expect(problems({ backups: { destination: { kind: "sftp", host: "backup.example.com", hostKey: "ssh-ed25519 AAAAC3Nza backup" } } })).toEqual([]);
  });

  it("rejects a bad host, path, bucket, endpoint and kind by field", () => {
    expect(problems({ backups: { destination: { kind: "sftp", host: "back up", hostKey: "ssh-ed25519 AAAA", path: "srv/backup" } } })).toEqual([
      `backups.destination.host: "back up" is not a host name or address`,
      `backups.destination.path: "srv/backup" must be an absolute path`,
    ]);
    expect(problems({ backups: { destination: { ...spaces, endpoint: "http://fra1.digitaloceanspaces.com", bucket: "Example_Backups" } } })).toEqual([
      `backups.destination.endpoint: "http://fra1.digitaloceanspaces.com" is not an https:// endpoint without a path`,
      `backups.destination.bucket: "Example_Backups" is not a bucket name (3–63 of a-z, 0-9, . and -)`,
    ]);
    expect(problems({ backups: { destination: { kind: "ftp" } } })).toEqual([`backups.destination.kind: "ftp" is not a backup destination kind (sftp, s3)`]);
    expect(problems({ backups: {} })).toEqual(["backups.destination: is required"]);
  });

  it("keeps its secrets out of the schema: they are program secrets, which a stack file must hold encrypted", () => {
    expect(programSecretKeys).toEqual(expect.arrayContaining(["megaweb:backupPassword", "megaweb:backupS3SecretKey"]));
    expect(stackInputFromConfig({ "megaweb:backupPassword": { secure: "v1:x" }, "megaweb:backups": { destination: sftp } })).toEqual({
      backups: { destination: sftp },
    });
  });

  it("requires a repository password of at least 16 characters, and the bucket's secret key for s3", () => {
    const sftpBackups = Backups.parse({ destination: sftp });
    const spacesBackups = Backups.parse({ destination: spaces });
    expect(backupSecretProblems(sftpBackups, {}).map(formatProblem)).toEqual([
      "backupPassword: is required for backups (pulumi config set --secret megaweb:backupPassword)",
    ]);
    expect(backupSecretProblems(sftpBackups, { password: "short" }).map(formatProblem)).toEqual(["backupPassword: must be at least 16 characters"]);
    expect(backupSecretProblems(spacesBackups, { password: "a-long-enough-password" }).map(formatProblem)).toEqual([
      "backupS3SecretKey: is required for an s3 destination (pulumi config set --secret megaweb:backupS3SecretKey)",
    ]);
    expect(backupSecretProblems(spacesBackups, { password: "a-long-enough-password", s3SecretKey: "secret" })).toEqual([]);
  });
});
