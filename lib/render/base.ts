import type { HostFile } from "./files";
import { renderSshd } from "./sshd";
import { renderTemplate } from "./template";

/**
 * The base system every host gets, whatever its roles: keys-only sshd, daily security upgrades,
 * and a `deploy` sudo user with the stack's SSH keys.
 */

/** The sudo user created on every host for people; automation keeps using the connection's user. */
export const deployUser = "deploy";

export interface BaseFiles {
  readonly sshd: HostFile;
  readonly autoUpgrades: HostFile;
  readonly authorizedKeys: HostFile;
  readonly sudoers: HostFile;
}

export function renderBase(sshPublicKeys: readonly string[]): BaseFiles {
  return {
    sshd: renderSshd(),
    autoUpgrades: { path: "/etc/apt/apt.conf.d/20auto-upgrades", content: renderTemplate("base/20auto-upgrades", {}) },
    authorizedKeys: {
      path: `/home/${deployUser}/.ssh/authorized_keys`,
      content: renderTemplate("sshd/authorized_keys", { keys: sshPublicKeys }),
      mode: "0600",
      owner: `${deployUser}:${deployUser}`,
    },
    sudoers: { path: `/etc/sudoers.d/megaweb-${deployUser}`, content: renderTemplate("sudo/megaweb-deploy", { user: deployUser }), mode: "0440" },
  };
}
