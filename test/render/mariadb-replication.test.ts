import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { putFiles } from "../../lib/steps/script";
import { renderMysqlReplication, renderMysqlReplicationStep } from "../../lib/render/mariadb-replication";
import { renderTemplate } from "../../lib/render/template";

const servers = [{ host: "10.20.0.5" }, { host: "10.20.0.6" }, { host: "10.20.0.7" }];
const password = "Zq9-replication-password-value_";
const render = (index: number) => renderMysqlReplication({ servers, index, password });

describe("MariaDB replication files", () => {
  it("give each server the id of its place in the plan and report its private address", () => {
    for (const index of [0, 1, 2]) {
      const config = render(index).serverConfig.content;
      expect(config).toContain(`server_id = ${index + 1}\n`);
      expect(config).toContain(`report_host = ${servers[index]!.host}\n`);
    }
  });

  it("start every server read-only with semi-sync's master side off, the primary too", () => {
    for (const index of [0, 1, 2]) {
      const config = render(index).serverConfig.content;
      expect(config).toMatch(/^read_only = ON$/m);
      expect(config).toMatch(/^rpl_semi_sync_master_enabled = OFF$/m);
      expect(config).toMatch(/^rpl_semi_sync_slave_enabled = ON$/m);
      expect(config).toMatch(/^gtid_strict_mode = ON$/m);
      expect(config).toMatch(/^log_slave_updates = ON$/m);
    }
  });

  it("differ between servers only in what names the server", () => {
    const [first, second] = [render(0), render(1)];
    expect(first.tool.content).toBe(second.tool.content);
    expect(first.dropIn.content).toBe(second.dropIn.content);
    expect(first.settings.content.replace(/^self=.*$/m, "")).toBe(second.settings.content.replace(/^self=.*$/m, ""));
    expect(first.settings.content).toContain('servers="10.20.0.5:3306 10.20.0.6:3306 10.20.0.7:3306"');
  });

  it("keep the password in one root-only secret file that the step takes from stdin", () => {
    const files = render(1);
    expect(files.credentials).toMatchObject({ path: "/etc/mysql/megaweb-replication.cnf", mode: "0600", secret: true });
    expect(files.credentials.content).toContain(`password = ${password}\n`);
    for (const file of [files.serverConfig, files.settings, files.tool, files.dropIn]) expect(file.content).not.toContain(password);
    const step = renderMysqlReplicationStep(files, putFiles);
    expect(step).not.toContain(password);
    expect(step).toContain("put_file /etc/mysql/megaweb-replication.cnf 0600 root:root\n");
  });

  it("install a tool and a step script that shellcheck passes", () => {
    const files = render(0);
    const step = `#!/bin/bash\n${renderTemplate("provision/lib.sh", {})}\n${renderMysqlReplicationStep(files, putFiles)}`;
    // The shared helpers serve every step, so one step leaves some of their variables and arguments unused.
    const shared = ["-e", "SC2034,SC1091,SC2119,SC2120"];
    for (const script of [step, files.tool.content])
      expect(spawnSync("shellcheck", [...shared, "-s", "bash", "-"], { input: script, encoding: "utf8" }).stdout).toBe("");
  });

  it("resume after every start of MariaDB, through a drop-in", () => {
    expect(render(2).dropIn).toMatchObject({
      path: "/etc/systemd/system/mariadb.service.d/megaweb-replication.conf",
      content: expect.stringContaining("ExecStartPost=-/usr/local/sbin/megaweb-mysql-replication resume\n"),
    });
  });
});
