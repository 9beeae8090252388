import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderTemplate } from "../../lib/render/template";

const scratch = mkdtempSync(path.join(os.tmpdir(), "megaweb-units-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const view = {
  version: "0.1.0",
  installDir: "/opt/megaweb-orchestrator/0.1.0",
  nodePath: process.execPath,
  user: "root",
  environmentFile: path.join(scratch, "orchestrator.env"),
};

describe("systemd units", () => {
  for (const unit of ["orchestrator-web.service", "orchestrator-worker.service"]) {
    it(`${unit} renders to a unit systemd-analyze accepts`, () => {
      const rendered = renderTemplate(`systemd/${unit}`, view);
      expect(rendered).not.toMatch(/\{\{|\}\}/);
      expect(rendered).toContain(
        `ExecStart=${process.execPath} --enable-source-maps /opt/megaweb-orchestrator/0.1.0/${unit.includes("web") ? "web" : "worker"}.js`,
      );
      writeFileSync(view.environmentFile, "MEGAWEB_API_TOKEN=unused-by-the-check\n");
      const file = path.join(scratch, unit);
      writeFileSync(file, rendered);
      const verify = spawnSync("systemd-analyze", ["verify", "--man=no", file], { encoding: "utf8" });
      // verify also reports on unrelated units of the host it runs on; only our unit's lines count.
      const ours = `${verify.stdout}${verify.stderr}`.split("\n").filter((line) => line.includes(unit));
      expect(ours).toEqual([]);
      expect(verify.status).toBe(0);
    });
  }
});
