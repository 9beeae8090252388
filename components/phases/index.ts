import type * as pulumi from "@pulumi/pulumi";
import { FourServer } from "./four-server";
import { HighAvailability } from "./high-availability";
import { Horizontal } from "./horizontal";
import type { PhaseArgs, PhaseComponent } from "./phase";
import { SingleBox } from "./single-box";

export { FourServer, HighAvailability, Horizontal, SingleBox };
export { type HostAddresses, type PhaseArgs, PhaseComponent, type PhaseConfig } from "./phase";
export { phaseAliases, phaseTypes } from "./types";

/**
 * The component for the config's phase. Keep `name` the same across phases: together with the
 * phases' aliases it is what lets a stack grow without rebuilding what it has.
 * @example const cluster = phaseComponent("megaweb-prod", { config, sshPrivateKey });
 */
export function phaseComponent(name: string, args: PhaseArgs, opts?: pulumi.ComponentResourceOptions): PhaseComponent {
  switch (args.config.phase) {
    case "single":
      return new SingleBox(name, args, opts);
    case "four-server":
      return new FourServer(name, args, opts);
    case "horizontal":
      return new Horizontal(name, args, opts);
    case "ha":
      return new HighAvailability(name, args, opts);
  }
}
