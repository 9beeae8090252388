import { createHmac } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/**
 * A password derived from a secret the stack already holds, so it is stable across runs, needs
 * no state of its own and no extra provider, and stays a secret Output all the way to the host.
 * Changing the root secret rotates every derived password on the next `up`.
 */
export function derivedPassword(rootSecret: pulumi.Input<string>, purpose: string): pulumi.Output<string> {
  return pulumi.secret(pulumi.output(rootSecret).apply((secret) => createHmac("sha256", secret).update(`megaweb:${purpose}`).digest("base64url").slice(0, 32)));
}
