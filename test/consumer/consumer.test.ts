import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The library as a user gets it: `npm pack` (which builds through prepack), installed into a
 * fresh project from the tarball, compiled under strict TypeScript and run.
 */

const repo = resolve(__dirname, "../..");
const project = mkdtempSync(join(tmpdir(), "megaweb-consumer-"));
const run = (command: string, args: string[], cwd = project) => execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

beforeAll(() => {
  cpSync(join(__dirname, "project"), project, { recursive: true });
  // Kept as .ts.in in the repository: the repository's own typecheck would otherwise try to
  // resolve "megaweb" against itself.
  renameSync(join(project, "consumer.ts.in"), join(project, "consumer.ts"));
  const tarball = run("npm", ["pack", "--silent", "--pack-destination", project], repo).trim().split("\n").pop()!;
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "megaweb-consumer", private: true, version: "1.0.0" }));
  // The npm cache already holds every dependency from the repository's own install.
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", `./${tarball}`, "@types/node@20"]);
}, 600_000);

afterAll(() => rmSync(project, { recursive: true, force: true }));

describe("megaweb as an installed package", () => {
  it("ships the compiled library, its type declarations and the templates", () => {
    const installed = join(project, "node_modules/megaweb");
    expect(readdirSync(join(installed, "dist"))).toEqual(expect.arrayContaining(["index.js", "index.d.ts", "cli", "lib"]));
    expect(readFileSync(join(installed, "templates/nginx/site.conf"), "utf8")).toContain("server_name {{serverNames}};");
  });

  it("compiles a consumer under strict TypeScript and renders a site through the public API", () => {
    run(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]);
    const result = JSON.parse(run(process.execPath, ["dist/consumer.js"]));
    expect(result.paths).toContain("/etc/nginx/sites-enabled/shop_example_com.conf");
    expect(result.paths).toContain("/etc/php/8.2/fpm/pool.d/shop_example_com.conf");
    expect(result.shop).toBe("memory_limit] = 192M");
    expect(result.packages).toEqual(["nginx", "php8.2-fpm"]);
    expect(result.problems).toEqual(['"exa mple.com" is not a valid host name']);
  });

  it("installs the megaweb bin", () => {
    writeFileSync(join(project, "Pulumi.demo.yaml"), "config:\n  megaweb:sites:\n    - domain: a b\n");
    let failure: { status?: number; stderr?: string } = {};
    try {
      run(join(project, "node_modules/.bin/megaweb"), ["validate", "Pulumi.demo.yaml"]);
    } catch (error) {
      failure = error as typeof failure;
    }
    expect(failure.status).toBe(1);
    expect(failure.stderr).toBe('sites[0].domain: "a b" is not a valid host name\n');
  });
});
