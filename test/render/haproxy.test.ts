import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderHaproxyConfig, type HaproxyConfigInput } from "../../lib/render/haproxy";

const workdir = mkdtempSync(path.join(tmpdir(), "megaweb-haproxy-"));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

/** `haproxy -c` parses the whole file and resolves every server line, as on reload. */
function haproxyCheck(config: string): string {
  const file = path.join(workdir, "haproxy.cfg");
  writeFileSync(file, config);
  return execFileSync("haproxy", ["-c", "-f", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const servers = [
  { name: "web-1", address: "10.10.0.3" },
  { name: "web-2", address: "10.10.0.4" },
  { name: "web-3", address: "10.10.0.5" },
];
const input: HaproxyConfigInput = {
  servers,
  checks: [{ path: "/megaweb-health/php/shop_example_com" }, { path: "/megaweb-health/app" }],
  host: { openFilesLimit: 20_000, memoryMb: 24_000 },
};

describe("HAProxy config", () => {
  it("passes haproxy's own check", () => {
    expect(haproxyCheck(renderHaproxyConfig(input).content)).toContain("Configuration file is valid");
  });

  it("sends HTTP and HTTPS to every web node with PROXY protocol, HTTPS following the HTTP checks", () => {
    const config = renderHaproxyConfig(input).content;
    for (const { name, address } of servers) {
      expect(config).toContain(`    server ${name} ${address}:80\n`);
      expect(config).toContain(`    server ${name} ${address}:443 send-proxy track web_http/${name}\n`);
    }
    expect(config.match(/http-check send meth GET uri \/megaweb-health\/\S+ ver HTTP\/1.1 hdr Host megaweb-health\n/g)).toHaveLength(2);
    expect(config).not.toContain("option forwardfor");
  });

  it("sizes maxconn from the host's open-files limit, or from a small host's memory", () => {
    expect(renderHaproxyConfig(input).content).toMatch(/^ {4}maxconn 9938$/m);
    expect(renderHaproxyConfig({ ...input, host: { openFilesLimit: 524_288, memoryMb: 1024 } }).content).toMatch(/^ {4}maxconn 13107$/m);
  });

  it("renders the same bytes for the same input", () => {
    expect(renderHaproxyConfig(input)).toEqual(renderHaproxyConfig(input));
  });

  it("is refused by haproxy when a backend address is not an address, so the check is real", () => {
    expect(() => haproxyCheck(renderHaproxyConfig({ ...input, servers: [{ name: "web-1", address: "not an address" }] }).content)).toThrow();
  });
});
