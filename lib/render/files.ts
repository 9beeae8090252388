/**
 * What rendering produces for a host: files with their absolute paths on that host. Provisioning
 * writes exactly these; per-site files are kept apart from host-wide ones so a change to one site
 * touches only that site's files (and only that site's provisioning step).
 */

export interface HostFile {
  /** Absolute path on the host. */
  readonly path: string;
  readonly content: string;
  /** Octal, e.g. `"0644"`. @default "0644" */
  readonly mode?: string;
  /** `user:group`. @default "root:root" */
  readonly owner?: string;
  /**
   * The content is secret (a TLS private key): provisioning sends it through a secret-only step
   * (stdin, `logging: "none"`, wrapped in `pulumi.secret`), and the CLI never holds such a file
   * because it never decrypts.
   */
  readonly secret?: boolean;
}

/** A directory a site needs before its daemons start (home, document root, logs, sessions). */
export interface HostDirectory {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
}
