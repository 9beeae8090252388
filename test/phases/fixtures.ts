import type { PhaseConfig } from "../../components/phases/phase";
import type { InfrastructureInput } from "../../lib/schema/infrastructure";
import { parseStack } from "../../lib/schema/stack";

export const adminCidr = "203.0.113.0/24";
export const bootstrapKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops@example";

/** A deployable stack config through the root schema: the given infrastructure keys over working SSH settings, and the sites. */
export function stackConfig(infrastructure: InfrastructureInput, sites: readonly unknown[] = [{ domain: "shop.example.com" }]): PhaseConfig {
  return parseStack({ sshPublicKeys: [bootstrapKey], adminCidrs: [adminCidr], ...infrastructure, sites });
}
