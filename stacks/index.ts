import * as pulumi from "@pulumi/pulumi";
import { phaseComponent } from "../components/phases";
import { deploymentProblems, PlanError, planTopology } from "../lib/plan/topology";
import { apiTokenProblems } from "../lib/schema/app";
import { backupSecretProblems, backupSecretKeys } from "../lib/schema/backups";
import { plaintextReceiverCredentials } from "../lib/schema/monitoring";
import { ConfigError } from "../lib/schema/errors";
import { reservedIpTokenProblems } from "../lib/schema/high-availability";
import { movesReservedIp } from "../lib/steps/keepalived";
import { parseStack, programSecretKeys, stackInputFromConfig } from "../lib/schema/stack";

/**
 * The megaweb program: the stack's `megaweb:*` config, validated by the root schema before
 * anything is created, becomes the phase component it asks for.
 */

/** Pulumi hands structured values over as JSON text and plain ones as bare strings. */
function configValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Whether Pulumi holds a config key as a secret: the language host lists them in
 * PULUMI_CONFIG_SECRET_KEYS, which the SDK reads only in its internal `isConfigSecret`.
 */
function isSecretConfig(key: string): boolean {
  const keys: unknown = JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS ?? "[]");
  return Array.isArray(keys) && keys.includes(key);
}

function readStack() {
  const raw = Object.entries(pulumi.runtime.allConfig()).filter(([key]) => !programSecretKeys.includes(key));
  try {
    const stack = parseStack(stackInputFromConfig(Object.fromEntries(raw.map(([key, text]) => [key, configValue(text)]))));
    // The token is a secret the program reads itself, but its rules are checked here with the rest.
    const secrets = pulumi.runtime.allConfig();
    const tokenProblems = [
      ...(stack.app?.enabled ? apiTokenProblems(secrets["megaweb:apiToken"]) : []),
      ...(stack.backups
        ? backupSecretProblems(stack.backups, { password: secrets[backupSecretKeys.password], s3SecretKey: secrets[backupSecretKeys.s3SecretKey] })
        : []),
      ...plaintextReceiverCredentials(stack.monitoring, isSecretConfig("megaweb:monitoring")),
      ...(movesReservedIp(planTopology(stack)) ? reservedIpTokenProblems(secrets["megaweb:reservedIpToken"]) : []),
    ];
    if (tokenProblems.length > 0) throw new ConfigError(tokenProblems);
    const deployment = deploymentProblems(stack);
    if (deployment.length > 0) throw new PlanError(deployment);
    return stack;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof PlanError) {
      // RunError prints just the message: one `path: rule` line per problem, no stack trace.
      throw new pulumi.RunError(`the stack config is not valid; nothing was changed:\n${error.message.replace(/^/gm, "  megaweb:")}`);
    }
    throw error;
  }
}

/**
 * The key provisioning connects with. A preview may run before it is set (a stack file fresh from
 * stacks/Pulumi.do-example.yaml, or a pull-request preview without the secret): the steps then
 * preview with an unknown key, and `pulumi up` refuses to start without one.
 */
function readSshPrivateKey(): pulumi.Output<string> {
  const key = megaweb.getSecret("sshPrivateKey");
  if (key !== undefined) return key;
  const howTo = "pulumi config set --secret megaweb:sshPrivateKey < ~/.ssh/id_ed25519";
  if (!pulumi.runtime.isDryRun()) throw new pulumi.RunError(`megaweb:sshPrivateKey is not set; nothing was changed (${howTo})`);
  pulumi.log.warn(`megaweb:sshPrivateKey is not set: the provisioning steps preview without it, and pulumi up will refuse to run (${howTo})`);
  return pulumi.secret(pulumi.output(pulumi.unknown as unknown as string));
}

const config = readStack();
const megaweb = new pulumi.Config("megaweb");
const sshPrivateKey = readSshPrivateKey();
const apiToken = config.app?.enabled ? megaweb.requireSecret("apiToken") : undefined;
const backup = config.backups
  ? {
      password: megaweb.requireSecret("backupPassword"),
      s3SecretKey: config.backups.destination.kind === "s3" ? megaweb.requireSecret("backupS3SecretKey") : undefined,
    }
  : undefined;
const reservedIpToken = movesReservedIp(planTopology(config)) ? megaweb.requireSecret("reservedIpToken") : undefined;
const cluster = phaseComponent(`megaweb-${pulumi.getStack()}`, { config, sshPrivateKey, apiToken, backup, reservedIpToken });

export const phase = config.phase;
export const endpoint = cluster.endpoint;
export const addresses = cluster.addresses;
export const monthlyCost = cluster.monthlyCost;
/**
 * Each site's URL, the orchestrator's control panel and API among them when the app is enabled;
 * until DNS points the domain at `endpoint`, send its Host header to the endpoint.
 */
export const urls = Object.fromEntries(config.sites.map((site) => [site.domain, `${site.tls.mode === "none" ? "http" : "https"}://${site.domain}/`]));
