import { haOnExistingHosts } from "../fixtures/existing-hosts";
import { describe, expect, it } from "vitest";
import { LoadTestFlagError, type LoadTestOptions } from "../../lib/loadtest/options";
import { addressesFromOutputs, addressesFromStackFile, parseTarget, resolveLoadTarget, StackOutputsError } from "../../lib/loadtest/target";
import { planTopology } from "../../lib/plan/topology";
import { parseStack, type StackInput } from "../../lib/schema/stack";

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMegawebTestKeyOnly ci";
const host = (address: string, privateAddress?: string) => ({ address, ...(privateAddress && { privateAddress }) });

const singleBox = parseStack({
  target: "existing",
  hosts: { web: [host("203.0.113.10", "10.0.0.5")] },
  sites: [
    { domain: "shop.example.com", aliases: ["www.shop.example.com", "*.shops.example.com"] },
    { domain: "blog.example.com" },
    { domain: "secure.example.com", tls: { mode: "letsencrypt" } },
  ],
} satisfies StackInput);
const singleBoxAddresses = addressesFromStackFile(singleBox, planTopology(singleBox));

const defaults: Pick<LoadTestOptions, "sites" | "app" | "allowAnyTarget"> = { sites: [], app: false, allowAnyTarget: false };

/** The lines the command prints when the target is refused. */
function refusal(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof LoadTestFlagError) return error.message.split("\n");
    throw error;
  }
  throw new Error("the target was accepted");
}

describe("the stack's own addresses", () => {
  it("are an existing single box's address and private address, the address being the endpoint", () => {
    expect(singleBoxAddresses).toEqual({
      endpoint: "203.0.113.10",
      known: [
        { address: "203.0.113.10", label: "endpoint" },
        { address: "203.0.113.10", label: "web-1" },
        { address: "10.0.0.5", label: "web-1 private" },
      ],
    });
  });

  it("put the first HAProxy node as the endpoint and leave out hosts that serve no HTTP", () => {
    const stack = parseStack({
      phase: "horizontal",
      target: "existing",
      nodes: { web: 2, worker: 1 },
      hosts: {
        loadbalancer: [host("198.18.0.10")],
        web: [host("198.18.0.11"), host("198.18.0.12")],
        redis: [host("198.18.0.13")],
        mysql: [host("198.18.0.14")],
        worker: [host("198.18.0.15")],
      },
      sites: [{ domain: "example.com" }],
    });
    const addresses = addressesFromStackFile(stack, planTopology(stack));
    expect(addresses.endpoint).toBe("198.18.0.10");
    expect(addresses.known.map((entry) => `${entry.address} ${entry.label}`)).toEqual([
      "198.18.0.10 endpoint",
      "198.18.0.10 loadbalancer-1",
      "198.18.0.11 web-1",
      "198.18.0.12 web-2",
    ]);
    expect(refusal(() => resolveLoadTarget(stack, addresses, { ...defaults, target: "198.18.0.14" }))).toEqual([
      "--target: 198.18.0.14 is not one of the stack's addresses: 198.18.0.10 (endpoint, loadbalancer-1), 198.18.0.11 (web-1), 198.18.0.12 (web-2); pass --allow-any-target to load-test it anyway",
    ]);
  });

  it("put the balancer pair's shared address as the endpoint of ha on existing hosts", () => {
    const stack = parseStack({ ...haOnExistingHosts, sites: [{ domain: "example.com" }] });
    const addresses = addressesFromStackFile(stack, planTopology(stack));
    expect(addresses.endpoint).toBe("198.18.0.200");
    expect(addresses.known.map((entry) => `${entry.address} ${entry.label}`)).toContain("198.18.0.10 loadbalancer-1");
  });

  it("of a DigitalOcean stack come from its outputs: the endpoint and the web hosts' public and private IPs", () => {
    const stack = parseStack({ phase: "four-server", sshPublicKeys: [key], adminCidrs: ["198.51.100.0/24"], sites: [{ domain: "example.com" }] });
    const outputs = {
      phase: "four-server",
      endpoint: "203.0.113.20",
      addresses: {
        "web-1": { publicIp: "203.0.113.20", privateIp: "10.10.0.2" },
        "redis-1": { publicIp: "203.0.113.21", privateIp: "10.10.0.3" },
      },
      urls: { "example.com": "http://example.com/" },
    };
    expect(addressesFromOutputs(planTopology(stack), outputs).known.map((entry) => `${entry.address} ${entry.label}`)).toEqual([
      "203.0.113.20 endpoint",
      "203.0.113.20 web-1",
      "10.10.0.2 web-1 private",
    ]);
  });

  it("cannot be read from outputs of a stack that was never deployed", () => {
    const stack = parseStack({ sites: [{ domain: "example.com" }] });
    expect(() => addressesFromOutputs(planTopology(stack), {})).toThrow(StackOutputsError);
    expect(() => addressesFromOutputs(planTopology(stack), {})).toThrow("endpoint: is required");
  });
});

describe("the load target", () => {
  it("defaults to the endpoint on port 80, sending every plain-HTTP site's name in turn", () => {
    const stack = parseStack({ target: "existing", hosts: { web: [host("203.0.113.10")] }, sites: [{ domain: "a.example.com" }, { domain: "b.example.com" }] });
    expect(resolveLoadTarget(stack, addressesFromStackFile(stack, planTopology(stack)), defaults)).toEqual({
      scheme: "http",
      hostname: "203.0.113.10",
      port: 80,
      url: "http://203.0.113.10:80",
      hosts: ["a.example.com", "b.example.com"],
      foreign: false,
    });
  });

  it("takes a port, a private address, an alias as Host, and https with port 443 for a TLS site", () => {
    expect(resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, target: "10.0.0.5:8080", sites: ["www.shop.example.com"] })).toMatchObject({
      url: "http://10.0.0.5:8080",
      hosts: ["www.shop.example.com"],
    });
    expect(resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, sites: ["eu.shops.example.com"] }).hosts).toEqual(["eu.shops.example.com"]);
    expect(resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, sites: ["secure.example.com"] })).toMatchObject({ url: "https://203.0.113.10:443" });
    expect(resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, target: "http://203.0.113.10", sites: ["secure.example.com"] }).url).toBe(
      "http://203.0.113.10:80",
    );
  });

  it("refuses a foreign address unless told, and says how to allow it", () => {
    expect(refusal(() => resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, target: "198.51.100.7", sites: ["blog.example.com"] }))).toEqual([
      "--target: 198.51.100.7 is not one of the stack's addresses: 203.0.113.10 (endpoint, web-1), 10.0.0.5 (web-1 private); pass --allow-any-target to load-test it anyway",
    ]);
    expect(
      resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, target: "198.51.100.7", sites: ["blog.example.com"], allowAnyTarget: true }),
    ).toMatchObject({
      url: "http://198.51.100.7:80",
      foreign: true,
    });
  });

  it("refuses sites the stack does not serve, an app it does not run, and a mix of TLS and plain sites", () => {
    expect(refusal(() => resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, sites: ["example.org"] }))).toEqual([
      `--site: "example.org" is not a domain or alias of this stack's sites (shop.example.com, blog.example.com, secure.example.com)`,
    ]);
    expect(refusal(() => resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, app: true }))).toEqual([
      "--app: the stack has no enabled app (megaweb:app)",
    ]);
    expect(refusal(() => resolveLoadTarget(singleBox, singleBoxAddresses, defaults))).toEqual([
      "--target: the sites mix TLS (secure.example.com) and plain HTTP (shop.example.com, blog.example.com); choose sites of one kind with --site, or the scheme with --target http://… or https://…",
    ]);
    expect(refusal(() => resolveLoadTarget(singleBox, singleBoxAddresses, { ...defaults, target: "203.0.113.10/shop", sites: ["blog.example.com"] }))).toEqual([
      `--target: "203.0.113.10/shop" is not an address, address:port or http(s)://address:port`,
    ]);
  });

  it("sends the app's domain as Host with --app", () => {
    const stack = parseStack({
      target: "existing",
      hosts: { web: [host("203.0.113.10")] },
      app: { domain: "panel.example.com" },
      sites: [{ domain: "a.example.com" }],
    });
    expect(resolveLoadTarget(stack, addressesFromStackFile(stack, planTopology(stack)), { ...defaults, app: true }).hosts).toEqual(["panel.example.com"]);
  });
});

describe("target addresses", () => {
  it("read an address, a port, IPv6 with and without brackets, and a scheme", () => {
    expect(parseTarget("203.0.113.10")).toEqual({ address: "203.0.113.10" });
    expect(parseTarget("203.0.113.10:8080")).toEqual({ address: "203.0.113.10", port: 8080 });
    expect(parseTarget("https://Web-1.Example.com/")).toEqual({ scheme: "https", address: "web-1.example.com" });
    expect(parseTarget("[2001:db8::1]:8443")).toEqual({ address: "2001:db8::1", port: 8443 });
    expect(parseTarget("http://::1")).toEqual({ scheme: "http", address: "::1" });
    for (const bad of ["", "203.0.113.10:0", "203.0.113.10:70000", "ftp://203.0.113.10", "[example.com]:80", "user@203.0.113.10"])
      expect(parseTarget(bad)).toBeUndefined();
  });

  it("in brackets go into the URL as IPv6 needs", () => {
    const stack = parseStack({ target: "existing", hosts: { web: [host("2001:db8::10")] }, sites: [{ domain: "a.example.com" }] });
    expect(resolveLoadTarget(stack, addressesFromStackFile(stack, planTopology(stack)), defaults).url).toBe("http://[2001:db8::10]:80");
  });
});
