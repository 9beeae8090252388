import { z } from "zod";
import type { Problem } from "./errors";
import type { Site } from "./site";

/**
 * The `certificates` section of a stack: where the sites with `tls: { mode: letsencrypt }` get
 * their certificates. certbot on each web host issues over HTTP-01 through the site's own nginx
 * and renews from Debian's certbot.timer; only the directory and the account differ per stack.
 */

const shown = (value: unknown) => JSON.stringify(value);

/** The ACME directories `acmeDirectory` has names for. */
export const acmeDirectories = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
} as const;
const directoryNames = Object.keys(acmeDirectories) as (keyof typeof acmeDirectories)[];

/**
 * A name from `acmeDirectories`, or the URL of any ACME directory (a local Pebble in tests, a
 * company CA). The URL lands in certbot's config file, so it may hold no spaces or quotes.
 */
const AcmeDirectory = z
  .string()
  .transform((value, ctx) => {
    if (value in acmeDirectories) return acmeDirectories[value as keyof typeof acmeDirectories];
    if (/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%/-]*)?$/.test(value)) return value;
    ctx.addIssue({ code: "custom", message: `${shown(value)} is not an ACME directory (${directoryNames.join(", ")} or an https:// URL)` });
    return z.NEVER;
  })
  .pipe(z.string());

export const Certificates = z
  .object({
    /**
     * The ACME directory certbot registers with and orders from. Staging issues untrusted
     * certificates without production's rate limits; use it to try a new stack.
     * @default "letsencrypt" (https://acme-v02.api.letsencrypt.org/directory)
     * @example "letsencrypt-staging"
     * @example "https://127.0.0.1:14000/dir"
     */
    acmeDirectory: AcmeDirectory.default(acmeDirectories.letsencrypt),
    /**
     * The ACME account's contact, one account per web host and directory. Without it certbot
     * registers with no e-mail; a site's own `tls.email` is used when this is unset.
     * @default undefined (the first Let's Encrypt site's tls.email, else no e-mail)
     * @example "ops@example.com"
     */
    email: z.email({ error: (issue) => `${shown(issue.input)} is not an e-mail address` }).optional(),
  })
  .strict();
export type Certificates = z.infer<typeof Certificates>;
export type CertificatesInput = z.input<typeof Certificates>;

/** Every default applied: what a stack without a `certificates` section gets. */
export const defaultCertificates: Certificates = Certificates.parse({});

/** The account e-mail certbot registers with: the stack's, else the first Let's Encrypt site's. */
export function accountEmail(certificates: Certificates, sites: readonly Site[]): string | undefined {
  if (certificates.email !== undefined) return certificates.email;
  for (const site of sites) if (site.tls.mode === "letsencrypt" && site.tls.email !== undefined) return site.tls.email;
  return undefined;
}

/**
 * HTTP-01 proves control of one name by answering on it, so a wildcard alias cannot be part
 * of a Let's Encrypt certificate (that needs DNS-01, which megaweb does not do).
 */
export function certificateProblems(sites: readonly Site[]): Problem[] {
  return sites.flatMap((site, index) =>
    site.tls.mode !== "letsencrypt"
      ? []
      : site.aliases.flatMap((alias, aliasIndex) =>
          alias.startsWith("*.")
            ? [
                {
                  path: ["sites", index, "aliases", aliasIndex],
                  message: `${shown(alias)} is a wildcard, which Let's Encrypt issues only over DNS-01; list the names or use tls mode custom`,
                },
              ]
            : [],
        ),
  );
}
