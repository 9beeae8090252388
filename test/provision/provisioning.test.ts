import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../../components/host";
import { parseStack, type StackInput } from "../../lib/schema/stack";

// Not in the public typings: resolves once every in-flight registration has been answered.
const settings = createRequire(import.meta.url)("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

const commandType = "command:remote:Command";
const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";
/** What the facts step of a 4 GB Debian 12 host prints. */
const factsStdout = '{"os":"debian","codename":"bookworm","memoryMb":4096,"cpus":2,"openFilesLimit":524288}\n';

let registered = new Map<string, Record<string, any>>();

/** The mock monitor hands secrets over wrapped (`{ <signature>: …, value }`); tests compare the values. */
const secretSignature = "4dabf18193072939515e22adb298388d";
function unwrap(value: unknown): any {
  if (Array.isArray(value)) return value.map(unwrap);
  if (value === null || typeof value !== "object") return value;
  if (secretSignature in value) return unwrap((value as Record<string, unknown>).value);
  return Object.fromEntries(Object.entries(value).map(([key, each]) => [key, unwrap(each)]));
}
let provisioning: typeof import("../../components/provision/provisioning");
let secrets: typeof import("../../components/provision/secrets");

beforeAll(async () => {
  // Not a preview: outputs resolve, so the steps' rendered scripts can be inspected.
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        registered.set(name, { type, ...unwrap(inputs) });
        return { id: `${name}-id`, state: { ...inputs, stdout: name.endsWith("-facts") ? factsStdout : "" } };
      },
      call: ({ inputs }) => inputs,
    },
    "megaweb",
    "test",
    false,
  );
  provisioning = await import("../../components/provision/provisioning");
  secrets = await import("../../components/provision/secrets");
});

const singleBox = (sites: StackInput["sites"]): StackInput => ({ phase: "single", target: "existing", hosts: { web: [{ address: "198.18.0.2" }] }, sites });
const threeSites: StackInput["sites"] = [
  { domain: "shop.example.com", php: { memoryLimit: "192M", extensions: ["mysql"] }, database: {} },
  { domain: "blog.example.com", php: { memoryLimit: "96M" }, pool: { pm: "static", maxChildren: 2 }, database: {} },
  { domain: "legacy.example.com", webServer: "apache", pool: { maxChildren: 3 } },
];

async function provision(input: StackInput): Promise<Map<string, Record<string, any>>> {
  registered = new Map();
  const host: Host = {
    name: "web-1",
    roles: ["web", "mysql", "redis", "worker"],
    connection: { host: "198.18.0.2", user: "root", privateKey: pulumi.secret(privateKey) },
    publicIp: "198.18.0.2",
    privateIp: "198.18.0.2",
  };
  new provisioning.Provisioning("box", { hosts: [host], config: parseStack(input) });
  await settings.waitForRPCs();
  return registered;
}

const valueOf = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

describe("Provisioning", () => {
  it("runs base, firewall, role and per-site steps on the single box", async () => {
    const steps = await provision(singleBox(threeSites));
    expect([...steps.keys()].filter((name) => steps.get(name)!.type === commandType).sort()).toEqual([
      "box-web-1-base",
      "box-web-1-db-blog_example_com",
      "box-web-1-db-shop_example_com",
      "box-web-1-exporters",
      "box-web-1-facts",
      "box-web-1-firewall",
      "box-web-1-hardening",
      "box-web-1-monitoring",
      "box-web-1-mysql",
      "box-web-1-mysqld-exporter",
      "box-web-1-redis",
      "box-web-1-redis-exporter",
      "box-web-1-site-blog_example_com",
      "box-web-1-site-blog_example_com-env",
      "box-web-1-site-legacy_example_com",
      "box-web-1-site-legacy_example_com-env",
      "box-web-1-site-shop_example_com",
      "box-web-1-site-shop_example_com-env",
      "box-web-1-web",
    ]);
    expect(steps.get("box-web-1-mysql")!.create).toContain("bind-address = 127.0.0.1");
    expect(steps.get("box-web-1-redis")!.create).toContain("bind 127.0.0.1\n");
  });

  it("sends generated passwords only on stdin of steps that log nothing, never in a command string", async () => {
    const steps = await provision(singleBox(threeSites));
    const passwords = await Promise.all(
      ["redis", "mysql:shop.example.com", "mysql:blog.example.com"].map((purpose) => valueOf(secrets.derivedPassword(privateKey, purpose))),
    );
    for (const [name, inputs] of [...steps].filter(([, inputs]) => inputs.type === commandType)) {
      for (const password of passwords) {
        expect(`${inputs.create ?? ""}${inputs.delete ?? ""}`, name).not.toContain(password);
        expect(JSON.stringify(inputs.connection ?? {}), name).not.toContain(password);
      }
      expect(inputs.addPreviousOutputInEnv, name).toBe(false);
      expect(inputs.logging, name).toBe(inputs.stdin === undefined ? "stdoutAndStderr" : "none");
    }
    expect(steps.get("box-web-1-redis")!.stdin).toBe(`requirepass ${passwords[0]}\n`);
    expect(steps.get("box-web-1-db-shop_example_com")!.stdin).toBe(`${passwords[1]}\n`);
    expect(steps.get("box-web-1-site-shop_example_com-env")!.stdin).toContain(`DB_PASSWORD=${passwords[1]}\n`);
    expect(steps.get("box-web-1-site-shop_example_com-env")!.stdin).toContain(`REDIS_PASSWORD=${passwords[0]}\n`);
  });

  it("derives a different, stable password per purpose", async () => {
    const [a, b, again] = await Promise.all(
      [secrets.derivedPassword("key", "redis"), secrets.derivedPassword("key", "mysql:a"), secrets.derivedPassword("key", "redis")].map(valueOf),
    );
    expect(a).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(again).toBe(a);
    expect(await pulumi.isSecret(secrets.derivedPassword("key", "redis"))).toBe(true);
  });

  it("changes only that site's step when one site's memory_limit changes", async () => {
    // Pools left to automatic sizing share what explicit ones leave of the host's PHP budget, so
    // there a change to one site can resize another's pool; with explicit pools nothing is shared.
    const explicit = threeSites!.map((site) => ({ ...site, pool: { maxChildren: 2, ...site.pool } }));
    const before = await provision(singleBox(explicit));
    const changed = structuredClone(explicit);
    changed[1]!.php!.memoryLimit = "128M";
    const after = await provision(singleBox(changed));
    const differing = [...after.keys()].filter((name) => JSON.stringify(after.get(name)) !== JSON.stringify(before.get(name)));
    expect(differing).toEqual(["box-web-1-site-blog_example_com"]);
    expect(after.get("box-web-1-site-blog_example_com")!.create).toContain("php_admin_value[memory_limit] = 128M");
  });
});
