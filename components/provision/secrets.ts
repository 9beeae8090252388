import * as pulumi from "@pulumi/pulumi";
import { type ClusterSecret, derivePassword, isDerived, secretName } from "../../lib/plan/cluster";
import type { Stack } from "../../lib/schema/stack";

/** A password derived from the stack's root secret (`derivePassword`), kept a secret Output all the way to the host. */
export function derivedPassword(rootSecret: pulumi.Input<string>, purpose: string): pulumi.Output<string> {
  return pulumi.secret(pulumi.output(rootSecret).apply((secret) => derivePassword(secret, purpose)));
}

/** Where the values behind a plan's secret placeholders come from. */
export interface SecretSources {
  /** The SSH private key every generated password derives from. */
  readonly rootSecret: pulumi.Input<string>;
  /** The stack as the program decrypted it: custom TLS keys are PEM strings here. */
  readonly stack: Stack;
  readonly apiToken?: pulumi.Input<string>;
  /** `megaweb:backupPassword` and `megaweb:backupS3SecretKey`, when the stack has backups. */
  readonly backup?: { readonly password?: pulumi.Input<string>; readonly s3SecretKey?: pulumi.Input<string> };
  /** `megaweb:reservedIpToken`, when the balancer pair moves a DigitalOcean reserved IP. */
  readonly reservedIpToken?: pulumi.Input<string>;
}

/** The value of a secret a step declared, as a secret Output. */
export function secretValue(secret: ClusterSecret, sources: SecretSources): pulumi.Output<string> {
  if (isDerived(secret)) return derivedPassword(sources.rootSecret, secretName(secret));
  if (secret.kind === "tlsKey") {
    const tls = sources.stack.sites.find((site) => site.domain === secret.domain)?.tls;
    if (tls?.mode !== "custom" || typeof tls.key !== "string") throw new Error(`${secret.domain}: the program holds no decrypted TLS key for it`);
    return pulumi.secret(tls.key);
  }
  if (secret.kind === "alertReceiver") {
    const { email, webhooks } = sources.stack.monitoring.receivers;
    const value = secret.receiver === "email" ? email?.password : webhooks[secret.receiver]?.bearerToken;
    if (typeof value !== "string") throw new Error(`${secretName(secret)}: the program holds no decrypted value for it`);
    return pulumi.secret(value);
  }
  if (secret.kind === "backupPassword" || secret.kind === "backupS3SecretKey") {
    const value = secret.kind === "backupPassword" ? sources.backup?.password : sources.backup?.s3SecretKey;
    if (value === undefined)
      throw new Error(`the backup steps need ${secret.kind === "backupPassword" ? "megaweb:backupPassword" : "megaweb:backupS3SecretKey"}`);
    return pulumi.secret(pulumi.output(value));
  }
  if (secret.kind === "reservedIpToken") {
    if (sources.reservedIpToken === undefined) throw new Error("the keepalived steps need the reserved IP's token (megaweb:reservedIpToken)");
    return pulumi.secret(pulumi.output(sources.reservedIpToken));
  }
  if (sources.apiToken === undefined) throw new Error("the app's steps need the API token (megaweb:apiToken)");
  return pulumi.secret(pulumi.output(sources.apiToken));
}
