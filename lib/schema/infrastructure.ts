import { isIP } from "node:net";
import { z } from "zod";

/**
 * Where and how big the servers are. Owned by the topology work (phases, plan, firewalls);
 * the stack schema in `stack.ts` composes it with the sites.
 */

export const phases = ["single", "four-server", "horizontal", "ha"] as const;
export const Phase = z.enum(phases);
export type Phase = z.infer<typeof Phase>;

export const Target = z.enum(["digitalocean", "existing"]);
export type Target = z.infer<typeof Target>;

/** DigitalOcean size slugs look like `s-1vcpu-1gb`, `s-2vcpu-4gb-amd`, `c-4`, `g-2vcpu-8gb`. */
export const SizeSlug = z
  .string()
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, { message: "is not a DigitalOcean size slug (like s-1vcpu-1gb)" });

/** An address or CIDR; a bare address means that one host. */
export const Cidr = z.string().refine((value) => isCidrOrAddress(value), {
  message: "is not an IP address or CIDR",
});

/** A secret stack value as it stands in a stack file (`secure: v1:...`); never decrypted by the CLI. */
export const SecretRef = z.object({ secure: z.string().min(1) }).strict();
export type SecretRef = z.infer<typeof SecretRef>;

export function isCidrOrAddress(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  const version = isIP(address ?? "");
  if (rest.length > 0 || version === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

/** Droplet sizes per role; defaults follow the infrastructure guide's figures. */
export const RoleSizes = z
  .object({
    web: SizeSlug.default("s-1vcpu-1gb"),
    redis: SizeSlug.default("s-1vcpu-1gb"),
    mysql: SizeSlug.default("s-1vcpu-2gb"),
    worker: SizeSlug.default("s-1vcpu-512mb-10gb"),
    loadBalancer: SizeSlug.default("s-1vcpu-1gb"),
    single: SizeSlug.default("s-2vcpu-4gb"),
  })
  .strict();

/** An existing server reached over SSH; its private key is the secret `megaweb:sshPrivateKey`. */
export const ExistingHost = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: "must be lower-case letters, digits and dashes" }),
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).default("root"),
  })
  .strict();
export type ExistingHost = z.infer<typeof ExistingHost>;

export const Infrastructure = z
  .object({
    phase: Phase.default("single"),
    target: Target.default("digitalocean"),
    region: z.string().regex(/^[a-z]{3}\d$/, { message: "is not a DigitalOcean region slug (like nyc3)" }).default("nyc3"),
    sizes: RoleSizes.default(RoleSizes.parse({})),
    sshPublicKeys: z.array(z.string().regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/, { message: "is not an OpenSSH public key" })).default([]),
    adminCidrs: z.array(Cidr).default([]),
    /** Hosts per role when `target` is `existing`; role names match the plan's roles. */
    hosts: z.record(z.string(), z.array(ExistingHost)).default({}),
  })
  .strict();
export type Infrastructure = z.infer<typeof Infrastructure>;
