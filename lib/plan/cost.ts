import { dropletSize, priceTable } from "./droplet-sizes";

/** One billed item; `monthly` is null for a droplet size the price table does not list. */
export interface CostLine {
  readonly item: string;
  readonly size: string;
  readonly monthly: number | null;
}

export interface CostEstimate {
  readonly currency: string;
  /** The date the price table was taken, so a reader knows how fresh the figure is. */
  readonly pricesTakenOn: string;
  readonly lines: readonly CostLine[];
  /** Sum of the priced lines. */
  readonly monthlyTotal: number;
  /** Items left out of the total because their size is not in the price table. */
  readonly unpriced: readonly string[];
}

export interface Billable {
  readonly droplets: readonly { readonly name: string; readonly size: string }[];
  readonly managedLoadBalancer: boolean;
  readonly reservedIps: number;
}

/** Monthly list price of what a plan creates; existing hosts cost nothing here. */
export function estimateCost({ droplets, managedLoadBalancer, reservedIps }: Billable): CostEstimate {
  const lines: CostLine[] = droplets.map(({ name, size }) => ({ item: name, size, monthly: dropletSize(size)?.monthly ?? null }));
  if (managedLoadBalancer) lines.push({ item: "load balancer", size: "lb-small (1 node)", monthly: priceTable.loadBalancerMonthly });
  for (let index = 1; index <= reservedIps; index++) {
    lines.push({ item: `reserved IP ${index}`, size: "assigned", monthly: priceTable.reservedIpMonthly });
  }
  return {
    currency: priceTable.currency,
    pricesTakenOn: priceTable.takenOn,
    lines,
    monthlyTotal: lines.reduce((total, line) => total + (line.monthly ?? 0), 0),
    unpriced: lines.filter((line) => line.monthly === null).map((line) => `${line.item} (${line.size})`),
  };
}
