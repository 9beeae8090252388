/**
 * DigitalOcean droplet sizes with their list prices, kept as data so the cost estimate and the
 * planned RAM read one table. The planned RAM is what `megaweb validate` holds explicit PHP pools
 * to and what `megaweb render` sizes pools, MariaDB and Redis for; on the servers, provisioning
 * sizes them from the memory each host reports.
 *
 * Prices are DigitalOcean's published monthly list prices in USD for the sizes below (Basic
 * Regular and Premium, General Purpose, CPU-Optimized). DigitalOcean bills per second up to the
 * monthly price; taxes and transfer overage are not included. Recheck with `doctl compute size
 * list` (or `GET /v2/sizes`) and update `takenOn` when the table changes.
 */
export const priceTable = {
  takenOn: "2026-11-22",
  source: "DigitalOcean list prices (docs.digitalocean.com/products/droplets/details/pricing, GET /v2/sizes)",
  currency: "USD",
  /** A regional DigitalOcean Load Balancer, one node (size unit 1). */
  loadBalancerMonthly: 12,
  /** Reserved IPs cost nothing while assigned to a droplet, which megaweb always does. */
  reservedIpMonthly: 0,
  droplets: {
    "s-1vcpu-512mb-10gb": { vcpus: 1, memoryMb: 512, monthly: 4 },
    "s-1vcpu-1gb": { vcpus: 1, memoryMb: 1024, monthly: 6 },
    "s-1vcpu-2gb": { vcpus: 1, memoryMb: 2048, monthly: 12 },
    "s-2vcpu-2gb": { vcpus: 2, memoryMb: 2048, monthly: 18 },
    "s-2vcpu-4gb": { vcpus: 2, memoryMb: 4096, monthly: 24 },
    "s-4vcpu-8gb": { vcpus: 4, memoryMb: 8192, monthly: 48 },
    "s-8vcpu-16gb": { vcpus: 8, memoryMb: 16384, monthly: 96 },
    "s-1vcpu-1gb-amd": { vcpus: 1, memoryMb: 1024, monthly: 7 },
    "s-1vcpu-2gb-amd": { vcpus: 1, memoryMb: 2048, monthly: 14 },
    "s-2vcpu-2gb-amd": { vcpus: 2, memoryMb: 2048, monthly: 21 },
    "s-2vcpu-4gb-amd": { vcpus: 2, memoryMb: 4096, monthly: 28 },
    "s-2vcpu-8gb-amd": { vcpus: 2, memoryMb: 8192, monthly: 42 },
    "s-4vcpu-8gb-amd": { vcpus: 4, memoryMb: 8192, monthly: 56 },
    "s-4vcpu-16gb-amd": { vcpus: 4, memoryMb: 16384, monthly: 84 },
    "s-8vcpu-16gb-amd": { vcpus: 8, memoryMb: 16384, monthly: 112 },
    "s-1vcpu-1gb-intel": { vcpus: 1, memoryMb: 1024, monthly: 8 },
    "s-1vcpu-2gb-intel": { vcpus: 1, memoryMb: 2048, monthly: 16 },
    "s-2vcpu-2gb-intel": { vcpus: 2, memoryMb: 2048, monthly: 24 },
    "s-2vcpu-4gb-intel": { vcpus: 2, memoryMb: 4096, monthly: 32 },
    "s-4vcpu-8gb-intel": { vcpus: 4, memoryMb: 8192, monthly: 64 },
    "g-2vcpu-8gb": { vcpus: 2, memoryMb: 8192, monthly: 63 },
    "g-4vcpu-16gb": { vcpus: 4, memoryMb: 16384, monthly: 126 },
    "c-2": { vcpus: 2, memoryMb: 4096, monthly: 42 },
    "c-4": { vcpus: 4, memoryMb: 8192, monthly: 84 },
  },
} as const satisfies {
  takenOn: string;
  source: string;
  currency: string;
  loadBalancerMonthly: number;
  reservedIpMonthly: number;
  droplets: Record<string, DropletSize>;
};

export interface DropletSize {
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly monthly: number;
}

/** Size slug shapes DigitalOcean uses: `s-1vcpu-1gb`, `s-1vcpu-512mb-10gb`, `s-2vcpu-4gb-amd`, `g-2vcpu-8gb`, `c-4`. */
export const sizeSlugPattern = /^(s|g|gd|c|c2|m|m3|so|so1_5)-(\d+vcpu-\d+(gb|mb)(-[a-z0-9]+)*|\d+)$/;

/** The table entry for a size, or `undefined` for a size the table does not list. */
export function dropletSize(slug: string): DropletSize | undefined {
  return (priceTable.droplets as Record<string, DropletSize>)[slug];
}

/**
 * vCPUs of a droplet size: from the table, else from the slug (`s-2vcpu-4gb-amd`, `c-8`).
 * @throws when the slug names no vCPU count and is not in the table.
 */
export function sizeCpus(slug: string): number {
  const listed = dropletSize(slug);
  if (listed) return listed.vcpus;
  const cpus = /-(\d+)vcpu-/.exec(slug) ?? /^(?:c|c2|g|gd|m|m3|so|so1_5)-(\d+)$/.exec(slug);
  if (!cpus) throw new Error(`size ${JSON.stringify(slug)} is not in the price table and its slug names no vCPU count`);
  return Number(cpus[1]);
}

/**
 * RAM of a droplet size in MiB: from the table, else read from the slug itself
 * (`s-2vcpu-4gb-amd` holds 4 GiB), so sizes newer than the table can still be planned.
 * @throws when the slug carries no memory figure and is not in the table (e.g. an unlisted `c-8`).
 */
export function sizeMemoryMb(slug: string): number {
  const listed = dropletSize(slug);
  if (listed) return listed.memoryMb;
  const memory = /-\d+vcpu-(\d+)(gb|mb)/.exec(slug);
  if (!memory) throw new Error(`size ${JSON.stringify(slug)} is not in the price table and its slug names no memory size`);
  return Number(memory[1]) * (memory[2] === "gb" ? 1024 : 1);
}
