import type { Phase } from "../../lib/schema/infrastructure";

/** Type tokens of the phase components. */
export const phaseTypes = {
  single: "megaweb:phases:SingleBox",
  "four-server": "megaweb:phases:FourServer",
  horizontal: "megaweb:phases:Horizontal",
  ha: "megaweb:phases:HighAvailability",
} as const satisfies Record<Phase, string>;

/**
 * A phase component's aliases: every other phase's type. Changing the parent's type changes
 * every child's URN; the engine hands a parent's aliases down to its children, so with these a
 * stack growing from one phase to the next updates the resources it keeps instead of rebuilding them.
 */
export function phaseAliases(phase: Phase): { type: string }[] {
  return Object.entries(phaseTypes)
    .filter(([other]) => other !== phase)
    .map(([, type]) => ({ type }));
}
