import * as pulumi from "@pulumi/pulumi";
import { phaseComponent } from "../components/phases";
import { ConfigError } from "../lib/schema/errors";
import { parseStack, stackInputFromConfig } from "../lib/schema/stack";

/**
 * The megaweb program: the stack's `megaweb:*` config, validated by the root schema before
 * anything is created, becomes the phase component it asks for.
 */

/** Secrets the program reads itself; the schema describes the stack's shape, not its credentials. */
const secretKeys = new Set(["megaweb:sshPrivateKey"]);

/** Pulumi hands structured values over as JSON text and plain ones as bare strings. */
function configValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function readStack() {
  const raw = Object.entries(pulumi.runtime.allConfig()).filter(([key]) => !secretKeys.has(key));
  try {
    return parseStack(stackInputFromConfig(Object.fromEntries(raw.map(([key, text]) => [key, configValue(text)]))));
  } catch (error) {
    if (error instanceof ConfigError) {
      // RunError prints just the message: one `path: rule` line per problem, no stack trace.
      throw new pulumi.RunError(`the stack config is not valid; nothing was changed:\n${error.message.replace(/^/gm, "  megaweb:")}`);
    }
    throw error;
  }
}

const config = readStack();
const sshPrivateKey = new pulumi.Config("megaweb").requireSecret("sshPrivateKey");
const cluster = phaseComponent(`megaweb-${pulumi.getStack()}`, { config, sshPrivateKey });

export const phase = config.phase;
export const endpoint = cluster.endpoint;
export const addresses = cluster.addresses;
export const monthlyCost = cluster.monthlyCost;
/** Each site's URL; until DNS points the domain at `endpoint`, send its Host header to the endpoint. */
export const urls = Object.fromEntries(config.sites.map((site) => [site.domain, `${site.tls.mode === "none" ? "http" : "https"}://${site.domain}/`]));
