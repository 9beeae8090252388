import { Infrastructure, type InfrastructureInput } from "../../lib/schema/infrastructure";
import type { PhaseConfig } from "../../components/phases/phase";

export const adminCidr = "203.0.113.0/24";
export const bootstrapKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops@example";

/** A deployable stack config: the given infrastructure keys over working SSH settings, and sites as given. */
export function stackConfig(infrastructure: InfrastructureInput, sites: readonly unknown[] = [{ domain: "shop.example.com" }]): PhaseConfig {
  return { ...Infrastructure.parse({ sshPublicKeys: [bootstrapKey], adminCidrs: [adminCidr], ...infrastructure }), sites };
}
