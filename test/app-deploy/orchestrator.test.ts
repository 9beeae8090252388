import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { PhaseComponent } from "../../components/phases";
import { derivedPassword } from "../../components/provision/secrets";
import type { InfrastructureInput } from "../../lib/schema/infrastructure";
import { renderWebHost } from "../../lib/render/files";
import { stackConfig } from "../phases/fixtures";
import { type Deployment, deploy, installMocks, valueOf } from "../phases/mocks";

/** What the mocks' Registration leaves out: each resource's dependencies and which inputs went over the wire as secrets. */
const wire = new Map<string, { dependencies: string[]; secretInputs: string[]; secretOutputs: string[] }>();
const secretSignature = "1b47061264138c4ac30d75fd1eb44270";

let phases: typeof import("../../components/phases");
beforeAll(async () => {
  await installMocks();
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request: any, callback: unknown) => {
    const inputs = (request.getObject()?.toJavaScript() ?? {}) as Record<string, any>;
    wire.set(request.getName(), {
      dependencies: request.getDependenciesList(),
      secretInputs: Object.keys(inputs).filter((key) => inputs[key]?.["4dabf18193072939515e22adb298388d"] === secretSignature),
      secretOutputs: request.getAdditionalsecretoutputsList(),
    });
    return register(request, callback);
  };
  phases = await import("../../components/phases");
});

const command = "command:remote:Command";
const copy = "command:remote:CopyToRemote";
const sshPrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUtest\n-----END OPENSSH PRIVATE KEY-----";
const apiToken = "4f1c2a9b8e7d6c5b4a39281706f5e4d3";
const appSite = { domain: "orchestrator.example.com" };

const scratch = mkdtempSync(join(tmpdir(), "megaweb-app-deploy-"));
/** A stand-in tarball: the component only hashes and uploads it. */
function artifact(content: string, version = "0.1.0"): string {
  const dir = mkdtempSync(join(scratch, "build-"));
  const path = join(dir, `megaweb-orchestrator-${version}.tgz`);
  writeFileSync(path, content);
  return path;
}
const release1 = artifact("release one");

interface Run {
  readonly run: Deployment;
  readonly phase: PhaseComponent;
}

async function deployApp(infrastructure: InfrastructureInput, appArtifact = release1, sites: unknown[] = [{ domain: "shop.example.com" }]): Promise<Run> {
  let phase: PhaseComponent | undefined;
  const run = await deploy(() => {
    const app = (infrastructure as { app: Record<string, unknown> }).app;
    phase = phases.phaseComponent("megaweb", {
      config: stackConfig({ ...infrastructure, app: { artifact: appArtifact, ...app } } as InfrastructureInput, sites),
      sshPrivateKey,
      apiToken,
    });
  });
  return { run, phase: phase! };
}
// stackConfig takes sites only; the app section rides along through the same root schema.
const withApp = (infrastructure: InfrastructureInput, app: Record<string, unknown> = appSite) => ({ ...infrastructure, app }) as InfrastructureInput;

const appSteps = (run: Deployment) =>
  [...run.ofType(command), ...run.ofType(copy)]
    .map((each) => each.name)
    .filter((name) => name.startsWith("megaweb-orchestrator-"))
    .sort();
const step = (run: Deployment, name: string) => run.registrations.find((each) => each.name === name) ?? expect.fail(`no step ${name}`);
/** The names of the command steps whose names end in `suffix`, sorted. */
const stepsEndingIn = (run: Deployment, suffix: string) =>
  run
    .ofType(command)
    .map((each) => each.name)
    .filter((name) => name.endsWith(suffix))
    .sort();
/** An input's value, unwrapped when it arrived as a secret. */
const plain = (value: any): string => String(value?.["4dabf18193072939515e22adb298388d"] === secretSignature ? value.value : (value ?? ""));

describe("what the Orchestrator runs on each host", () => {
  it("single box: the database, the upload, the environment and both units on the one host", async () => {
    const { run, phase } = await deployApp(withApp({ phase: "single" }));
    expect(appSteps(run)).toEqual([
      "megaweb-orchestrator-web-1-artifact",
      "megaweb-orchestrator-web-1-database",
      "megaweb-orchestrator-web-1-environment",
      "megaweb-orchestrator-web-1-install",
    ]);
    const install = step(run, "megaweb-orchestrator-web-1-install").inputs.create as string;
    expect(install).toContain("units=(orchestrator-web.service orchestrator-worker.service)");
    expect(install).toContain("ExecStart=/usr/bin/node --enable-source-maps /opt/megaweb/orchestrator/0.1.0-");
    expect(phase.orchestrator!.url).toBe("http://orchestrator.example.com/");
  });

  it("four-server: the web process on the web host, the worker on the worker host, the database on MySQL, nothing on Redis", async () => {
    const { run, phase } = await deployApp(withApp({ phase: "four-server" }));
    expect(appSteps(run)).toEqual([
      "megaweb-orchestrator-mysql-1-database",
      "megaweb-orchestrator-web-1-artifact",
      // The web host held the app's database if the stack grew from the single box: it moves it first.
      "megaweb-orchestrator-web-1-database-move",
      "megaweb-orchestrator-web-1-environment",
      "megaweb-orchestrator-web-1-install",
      "megaweb-orchestrator-worker-1-artifact",
      "megaweb-orchestrator-worker-1-environment",
      "megaweb-orchestrator-worker-1-install",
    ]);
    expect(step(run, "megaweb-orchestrator-web-1-install").inputs.create).toContain("units=(orchestrator-web.service)");
    expect(step(run, "megaweb-orchestrator-worker-1-install").inputs.create).toContain("units=(orchestrator-worker.service)");
    // The database user may connect from the web and worker hosts' private addresses only.
    const database = step(run, "megaweb-orchestrator-mysql-1-database").inputs.create as string;
    const addresses = [...database.matchAll(/CREATE USER IF NOT EXISTS 'megaweb'@'([^']+)'/g)].map((match) => match[1]);
    const privateIps = await valueOf(phase.addresses);
    expect(addresses.sort()).toEqual([privateIps["web-1"]!.privateIp, privateIps["worker-1"]!.privateIp].sort());
  });

  it("serves the app's site through provisioning on every web host, proxying to the app's port", async () => {
    const config = stackConfig(withApp({ phase: "horizontal" }, { ...appSite, port: 3100 }));
    const { run } = await deployApp(withApp({ phase: "horizontal" }, { ...appSite, port: 3100 }));
    const sites = run.ofType(command).filter((each) => each.name.endsWith("-site-orchestrator_example_com"));
    expect(sites.map((each) => each.name).sort()).toEqual(
      ["web-1", "web-2", "web-3"].map((host) => `megaweb-provisioning-${host}-site-orchestrator_example_com`),
    );
    // What those steps write, rendered as provisioning renders it (the mocks report no host facts to render from).
    const rendered = renderWebHost(config, { name: "web-1", memoryMb: 2048, roles: ["web"] });
    const vhost = rendered.sites.find((site) => site.domain === "orchestrator.example.com")!.files[0]!;
    expect(vhost.path).toBe("/etc/nginx/sites-enabled/orchestrator_example_com.conf");
    expect(vhost.content).toContain("proxy_pass http://127.0.0.1:3100;");
  });

  it("waits for provisioning: MySQL before the database, and the host's site, MySQL and Redis before the units start", async () => {
    const { run } = await deployApp(withApp({ phase: "four-server" }));
    const urn = (name: string) => step(run, name).urn;
    const dependencies = (name: string) => wire.get(name)!.dependencies;
    expect(dependencies("megaweb-orchestrator-mysql-1-database")).toContain(urn("megaweb-provisioning-mysql-1-mysql"));
    expect(dependencies("megaweb-orchestrator-web-1-install")).toEqual(
      expect.arrayContaining(
        [
          "megaweb-orchestrator-web-1-artifact",
          "megaweb-orchestrator-web-1-environment",
          "megaweb-orchestrator-mysql-1-database",
          "megaweb-provisioning-redis-1-redis",
          "megaweb-provisioning-web-1-site-orchestrator_example_com",
        ].map(urn),
      ),
    );
    expect(dependencies("megaweb-orchestrator-worker-1-install")).toEqual(
      expect.arrayContaining(
        ["megaweb-orchestrator-worker-1-environment", "megaweb-orchestrator-mysql-1-database", "megaweb-provisioning-redis-1-redis"].map(urn),
      ),
    );
  });
});

describe("secrets", () => {
  it("keeps the token and every password out of command strings, and sends them only through secret-only steps", async () => {
    const { run } = await deployApp(withApp({ phase: "ha" }));
    const secrets = [
      apiToken,
      await valueOf(derivedPassword(sshPrivateKey, "redis")),
      await valueOf(derivedPassword(sshPrivateKey, "mysql:orchestrator.example.com")),
    ];
    const commands = run.ofType(command);
    for (const each of commands) {
      for (const field of ["create", "delete", "update"]) {
        for (const secret of secrets) expect(String(each.inputs[field] ?? "")).not.toContain(secret);
      }
    }
    const carrying = commands.filter((each) => secrets.some((secret) => plain(each.inputs.stdin).includes(secret)));
    expect(carrying.length).toBeGreaterThan(0);
    for (const each of carrying) expect(each.inputs.logging, each.name).toBe("none");
    expect(plain(step(run, "megaweb-orchestrator-web-1-environment").inputs.stdin)).toContain(`MEGAWEB_API_TOKEN=${apiToken}\n`);
  });

  it("moves the box's data in steps that log nothing and keep their output secret, since their tools may print rows", async () => {
    const { run } = await deployApp(withApp({ phase: "four-server" }), release1, [{ domain: "shop.example.com", database: {} }]);
    const moves = stepsEndingIn(run, "-move");
    expect(moves).toEqual([
      "megaweb-orchestrator-web-1-database-move",
      "megaweb-provisioning-web-1-redis-move",
      "megaweb-provisioning-web-1-site-shop_example_com-database-move",
    ]);
    for (const name of moves) {
      expect(step(run, name).inputs.logging, name).toBe("none");
      expect(wire.get(name)!.secretOutputs, name).toEqual(expect.arrayContaining(["stdout", "stderr"]));
    }
  });

  it("forgets the copies the moves left, once told to, in secret-only steps made after every step that switches away from them", async () => {
    const { run } = await deployApp(withApp({ phase: "four-server", forgetMovedData: true }), release1, [{ domain: "shop.example.com", database: {} }]);
    const forgets = stepsEndingIn(run, "-forget");
    // The app's environments switch to the new Redis too, so the orchestrator makes the Redis forget after them.
    expect(forgets).toEqual([
      "megaweb-orchestrator-web-1-database-move-forget",
      "megaweb-orchestrator-web-1-redis-move-forget",
      "megaweb-provisioning-web-1-site-shop_example_com-database-move-forget",
    ]);
    for (const name of forgets) {
      expect(step(run, name).inputs.logging, name).toBe("none");
      expect(wire.get(name)!.secretInputs, name).toContain("stdin");
      expect(wire.get(name)!.secretOutputs, name).toEqual(expect.arrayContaining(["stdout", "stderr"]));
    }
    const redisPassword = await valueOf(derivedPassword(sshPrivateKey, "redis"));
    const redisForget = step(run, "megaweb-orchestrator-web-1-redis-move-forget");
    expect(plain(redisForget.inputs.stdin)).toBe(`${redisPassword}\n`);
    expect(String(redisForget.inputs.create)).not.toContain(redisPassword);
    // The steps it waits for, its host's droplet and the one it reaches aside.
    const waitsFor = (name: string) =>
      wire
        .get(name)!
        .dependencies.map((urn) => urn.split("::").pop()!)
        .filter((each) => /^megaweb-(provisioning|orchestrator)-/.test(each));
    expect(waitsFor("megaweb-orchestrator-web-1-redis-move-forget").sort()).toEqual([
      "megaweb-orchestrator-web-1-environment",
      "megaweb-orchestrator-worker-1-environment",
      "megaweb-provisioning-web-1-redis-move",
      "megaweb-provisioning-web-1-site-shop_example_com-env",
    ]);
  });

  it("sends the environment and the database password as secrets, so state and previews only show them encrypted", async () => {
    await deployApp(withApp({ phase: "four-server" }));
    for (const name of ["megaweb-orchestrator-web-1-environment", "megaweb-orchestrator-worker-1-environment", "megaweb-orchestrator-mysql-1-database"]) {
      expect(wire.get(name)!.secretInputs, name).toContain("stdin");
    }
    expect(wire.get("megaweb-orchestrator-web-1-install")!.secretInputs).toEqual(["connection"]);
  });
});

describe("where the app finds its data services", () => {
  const environment = async (infrastructure: InfrastructureInput, host: string) =>
    plain(step((await deployApp(withApp(infrastructure))).run, `megaweb-orchestrator-${host}-environment`).inputs.stdin);

  it("single box: MySQL and Redis over loopback", async () => {
    const file = await environment({ phase: "single" }, "web-1");
    expect(file).toMatch(/^MEGAWEB_DB_URL=mysql:\/\/megaweb:[A-Za-z0-9_-]{32}@127\.0\.0\.1:3306\/megaweb$/m);
    expect(file).toMatch(/^MEGAWEB_REDIS_URL=redis:\/\/:[A-Za-z0-9_-]{32}@127\.0\.0\.1:6379$/m);
  });

  it("ha: the primary, every replica, and the Sentinels instead of one Redis", async () => {
    const { run, phase } = await deployApp(withApp({ phase: "ha" }));
    const addresses = await valueOf(phase.addresses);
    const file = plain(step(run, "megaweb-orchestrator-worker-1-environment").inputs.stdin);
    const at = (host: string) => addresses[host]!.privateIp;
    expect(file).toContain(`@${at("mysql-1")}:3306/megaweb\n`);
    const replicas = /^MEGAWEB_DB_REPLICA_URLS=(.*)$/m.exec(file)![1]!.split(",");
    expect(replicas.map((url) => new URL(url).hostname)).toEqual([at("mysql-2"), at("mysql-3")]);
    expect(/^MEGAWEB_REDIS_SENTINELS=(.*)$/m.exec(file)![1]).toBe(["sentinel-1", "sentinel-2", "sentinel-3"].map((host) => `${at(host)}:26379`).join(","));
    expect(file).not.toMatch(/^MEGAWEB_REDIS_URL=/m);
  });
});

describe("what makes the units restart", () => {
  const appInputs = (run: Deployment) =>
    Object.fromEntries(
      [...run.ofType(command), ...run.ofType(copy)].filter((each) => each.name.startsWith("megaweb-orchestrator-")).map((each) => [each.name, each.inputs]),
    );

  it("nothing changes for the same config and artifact, nor for a change to another site", async () => {
    const before = appInputs((await deployApp(withApp({ phase: "four-server" }))).run);
    expect(appInputs((await deployApp(withApp({ phase: "four-server" }))).run)).toEqual(before);
    const otherSite = await deployApp(withApp({ phase: "four-server" }), release1, [{ domain: "shop.example.com", php: { memoryLimit: "512M" } }]);
    expect(appInputs(otherSite.run)).toEqual(before);
  });

  it("a new artifact changes the uploads and install steps only, and names a new release", async () => {
    const before = appInputs((await deployApp(withApp({ phase: "four-server" }))).run);
    const after = appInputs((await deployApp(withApp({ phase: "four-server" }), artifact("release two"))).run);
    const changed = Object.keys(after).filter((name) => JSON.stringify(after[name]) !== JSON.stringify(before[name]));
    expect(changed.sort()).toEqual([
      "megaweb-orchestrator-web-1-artifact",
      "megaweb-orchestrator-web-1-install",
      "megaweb-orchestrator-worker-1-artifact",
      "megaweb-orchestrator-worker-1-install",
    ]);
    const release = (inputs: Record<string, unknown>) => /^release=(.*)$/m.exec(String(inputs.create))![1];
    expect(release(after["megaweb-orchestrator-web-1-install"]!)).not.toBe(release(before["megaweb-orchestrator-web-1-install"]!));
  });

  it("an app setting changes the environment steps only", async () => {
    const before = appInputs((await deployApp(withApp({ phase: "four-server" }))).run);
    const after = appInputs((await deployApp(withApp({ phase: "four-server" }, { ...appSite, workerConcurrency: 8 }))).run);
    const changed = Object.keys(after).filter((name) => JSON.stringify(after[name]) !== JSON.stringify(before[name]));
    expect(changed.sort()).toEqual(["megaweb-orchestrator-web-1-environment", "megaweb-orchestrator-worker-1-environment"]);
    expect(plain(after["megaweb-orchestrator-worker-1-environment"]!.stdin)).toContain("MEGAWEB_WORKER_CONCURRENCY=8\n");
  });
});

describe("refusals before anything is created", () => {
  it("needs the API token when the app is enabled", () => {
    expect(() =>
      phases.phaseComponent("refused", { config: stackConfig(withApp({ phase: "single" }, { ...appSite, artifact: release1 })), sshPrivateKey }),
    ).toThrow("the app is enabled but no apiToken was given (megaweb:apiToken)");
  });

  it("names a missing artifact and how to build it", () => {
    const missing = join(scratch, "megaweb-orchestrator-9.9.9.tgz");
    expect(() =>
      phases.phaseComponent("refused", { config: stackConfig(withApp({ phase: "single" }, { ...appSite, artifact: missing })), sshPrivateKey, apiToken }),
    ).toThrow(`${missing} does not exist: build it with npm run build -w app, or pass the path of a built artifact`);
  });
});
