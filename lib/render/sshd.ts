import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * The sshd drop-in every host gets: keys only, Ed25519 host key, and the key exchanges, ciphers
 * and MACs ssh-audit grades without a failure or a warning, all of which the Go SSH client of the
 * Pulumi command provider speaks. `root` prefixes the host key path for a scratch tree in tests.
 */
export function renderSshd(root = ""): HostFile {
  return { path: `${root}/etc/ssh/sshd_config.d/50-megaweb.conf`, content: renderTemplate("sshd/50-megaweb.conf", { root }) };
}
