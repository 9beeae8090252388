import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";

// Not in the public typings: resolves once every in-flight registration has been answered.
const settings = createRequire(import.meta.url)("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

/** A resource as the engine would have received it: inputs, parent and aliases. */
export interface Registration {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** The id the (mock) provider gave; empty for components. */
  readonly id: string;
  readonly parentUrn: string;
  readonly inputs: Record<string, any>;
  /** What the mock provider answered: the inputs and the values DigitalOcean would have computed. */
  readonly state: Record<string, any>;
  /** Alias specs as sent to the engine (`{ type, name, parenturn, noparent, … }`). */
  readonly aliases: readonly Record<string, unknown>[];
}

export class Deployment {
  constructor(readonly registrations: readonly Registration[]) {}

  ofType(type: string): Registration[] {
    return this.registrations.filter((registration) => registration.type === type);
  }

  named(type: string, name: string): Registration {
    const found = this.registrations.find((registration) => registration.type === type && registration.name === name);
    if (!found)
      throw new Error(
        `no ${type} named ${name}; have ${this.ofType(type)
          .map((each) => each.name)
          .join(", ")}`,
      );
    return found;
  }
}

const dropletNumbers = new Map<string, number>();
/** Stable per logical name, so two runs of a program give a droplet the same id and addresses. */
const dropletNumber = (name: string) => {
  if (!dropletNumbers.has(name)) dropletNumbers.set(name, dropletNumbers.size + 2);
  return dropletNumbers.get(name)!;
};

/** What DigitalOcean would report back for each resource type the phases create. */
function fakeState(type: string, name: string, inputs: Record<string, any>): { id: string; state: Record<string, any> } {
  switch (type) {
    case "digitalocean:index/droplet:Droplet": {
      const n = dropletNumber(name);
      const id = String(400000 + n);
      return {
        id,
        state: {
          ...inputs,
          ipv4Address: `198.51.100.${n}`,
          ipv4AddressPrivate: `10.10.0.${n}`,
          dropletUrn: `do:droplet:${id}`,
          // Read back from the API with the values a droplet created without them has.
          backups: false,
          gracefulShutdown: false,
          ipv6: false,
          volumeIds: [],
        },
      };
    }
    case "digitalocean:index/firewall:Firewall":
      // The API lists a firewall's pending changes; none once it is applied.
      return { id: `${name}-id`, state: { ...inputs, pendingChanges: [] } };
    case "digitalocean:index/loadBalancer:LoadBalancer":
      return { id: `lb-${name}`, state: { ...inputs, ip: "203.0.113.10", loadBalancerUrn: `do:loadbalancer:lb-${name}` } };
    case "digitalocean:index/reservedIp:ReservedIp":
      return { id: "203.0.113.20", state: { ...inputs, ipAddress: "203.0.113.20", reservedIpUrn: "do:floatingip:203.0.113.20" } };
    case "digitalocean:index/sshKey:SshKey":
      return { id: "1234", state: { ...inputs, fingerprint: "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa" } };
    case "command:remote:Command":
      // A droplet's facts step, as templates/provision/facts.sh prints them on Debian 12 (eth1 is the VPC interface), so steps rendered from facts resolve.
      if (name.endsWith("-facts")) {
        const facts = {
          os: "debian",
          codename: "bookworm",
          memoryMb: 1967,
          cpus: 2,
          openFilesLimit: 524288,
          interfaces: { "127.0.0.1": "lo", "10.10.0.2": "eth1" },
        };
        return { id: `${name}-id`, state: { ...inputs, stdout: JSON.stringify(facts) } };
      }
      return { id: `${name}-id`, state: inputs };
    case "digitalocean:index/vpc:Vpc":
      return { id: `vpc-${name}`, state: { ...inputs, urn: `do:vpc:vpc-${name}` } };
    default:
      return { id: `${name}-id`, state: inputs };
  }
}

let recorded: Registration[] = [];
const inputsByKey = new Map<string, Record<string, any>>();
const statesByKey = new Map<string, Record<string, any>>();

/** Installs the mocks; call before importing any component (a dynamic import in `beforeAll`). */
export async function installMocks(): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        const answer = fakeState(type, name, inputs);
        inputsByKey.set(`${type}::${name}`, inputs);
        statesByKey.set(`${type}::${name}`, answer.state);
        return answer;
      },
      call: ({ inputs }) => inputs,
    },
    "megaweb",
    "test",
    true,
  );
  // The mock monitor hands neither parents nor aliases to `newResource`; read them off the request.
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request: any, callback: (error: unknown, response: any) => void) =>
    register(request, (error: unknown, response: any) => {
      if (!error) {
        const key = `${request.getType()}::${request.getName()}`;
        recorded.push({
          type: request.getType(),
          name: request.getName(),
          urn: response.getUrn(),
          id: response.getId(),
          parentUrn: request.getParent(),
          inputs: inputsByKey.get(key) ?? {},
          state: statesByKey.get(key) ?? {},
          aliases: request.getAliasesList().map((alias: any) => alias.toObject().spec ?? {}),
        });
      }
      callback(error, response);
    });
}

/** Runs a program and returns every resource it registered, once all registrations have finished. */
export async function deploy(program: () => unknown): Promise<Deployment> {
  recorded = [];
  inputsByKey.clear();
  statesByKey.clear();
  program();
  await settings.waitForRPCs();
  return new Deployment(recorded);
}

/** The value of an output, for assertions. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}
