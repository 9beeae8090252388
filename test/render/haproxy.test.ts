import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderHaproxyConfig } from "../../lib/render/haproxy";

const workdir = mkdtempSync(path.join(tmpdir(), "megaweb-haproxy-"));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

/** `haproxy -c` parses the whole file and resolves every server line, as on reload. */
function haproxyCheck(config: string): string {
  const file = path.join(workdir, "haproxy.cfg");
  writeFileSync(file, config);
  return execFileSync("haproxy", ["-c", "-f", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const backends = [
  { name: "web-1", address: "10.10.0.3" },
  { name: "web-2", address: "10.10.0.4" },
  { name: "web-3", address: "10.10.0.5" },
];

describe("HAProxy config", () => {
  it("passes haproxy's own check", () => {
    expect(haproxyCheck(renderHaproxyConfig({ backends, healthPath: "/health" }).content)).toContain("Configuration file is valid");
  });

  it("sends HTTP and HTTPS to every web node and checks the health path on port 80", () => {
    const config = renderHaproxyConfig({ backends, healthPath: "/api/health?deep=1" }).content;
    for (const { name, address } of backends) {
      expect(config).toContain(`    server ${name} ${address}:80 check\n`);
      expect(config).toContain(`    server ${name} ${address}:443 check port 80\n`);
    }
    expect(config.match(/http-check send meth GET uri \/api\/health\?deep=1\n/g)).toHaveLength(2);
    expect(haproxyCheck(config)).toContain("Configuration file is valid");
  });

  it("renders the same bytes for the same input", () => {
    expect(renderHaproxyConfig({ backends, healthPath: "/health" })).toEqual(renderHaproxyConfig({ backends, healthPath: "/health" }));
  });

  it("is refused by haproxy when a backend address is not an address, so the check is real", () => {
    expect(() => haproxyCheck(renderHaproxyConfig({ backends: [{ name: "web-1", address: "not an address" }], healthPath: "/health" }).content)).toThrow();
  });
});
