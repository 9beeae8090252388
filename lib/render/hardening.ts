import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * What every host gets to pass a Lynis audit as a web host can: kernel and network settings,
 * modules it never loads, no core dumps, a login banner, and fail2ban on SSH. sshd itself is
 * `sshd.ts`. What Lynis suggests beyond this and megaweb leaves alone is listed in
 * `lynisLeftAlone`, with the reason.
 */

export interface HardeningFacts {
  /** Networks never banned: the stack's `adminCidrs`, from which operators and provisioning connect. */
  readonly trustedSources: readonly string[];
  /** @default 22 */
  readonly sshPort?: number;
  /** @default "" */
  readonly root?: string;
}

export interface HardeningRender {
  readonly files: readonly HostFile[];
  /**
   * fail2ban and what it needs to read the journal; the others are what Lynis asks of a Debian host
   * (DEB-0280 libpam-tmpdir, DEB-0831 needrestart, PKGS-7370 debsums, PKGS-7394 apt-show-versions).
   */
  readonly packages: readonly string[];
}

export function renderHardening(facts: HardeningFacts): HardeningRender {
  const path = (absolute: string) => `${facts.root ?? ""}${absolute}`;
  const file = (absolute: string, template: string, view: object = {}): HostFile => ({
    path: path(absolute),
    content: renderTemplate(`hardening/${template}`, view),
  });
  return {
    files: [
      file("/etc/sysctl.d/90-megaweb.conf", "sysctl-megaweb.conf"),
      file("/etc/modprobe.d/megaweb.conf", "modprobe-megaweb.conf"),
      file("/etc/security/limits.d/90-megaweb-core.conf", "limits-megaweb-core.conf"),
      file("/etc/systemd/coredump.conf.d/megaweb.conf", "coredump-megaweb.conf"),
      file("/etc/issue", "issue"),
      file("/etc/issue.net", "issue"),
      file("/etc/fail2ban/jail.local", "jail.local", { trusted: facts.trustedSources, sshPort: facts.sshPort ?? 22 }),
    ],
    packages: ["fail2ban", "python3-systemd", "libpam-tmpdir", "needrestart", "debsums", "apt-show-versions"],
  };
}

/** Lynis suggestions megaweb does not follow, and why; the README's security section lists them. */
export const lynisLeftAlone: Readonly<Record<string, string>> = {
  "FILE-6310": "/tmp, /home and /var on partitions of their own: a droplet has one disk, and re-partitioning it is not provisioning's job",
  "BOOT-5122": "a GRUB password: the only console is the provider's, behind its own login",
  "SSH-7408 Port": "SSH on another port: the firewall already limits it to the admin networks, and fail2ban handles the rest",
  "AUTH-9286 / AUTH-9230": "password ageing and hashing rounds in login.defs: nobody logs in with a password",
  "KRNL-6000 net.ipv4.tcp_timestamps": "TCP timestamps stay on: they protect against wrapped sequence numbers on busy links",
  "KRNL-6000 kernel.modules_disabled": "loading modules stays possible: nftables and the kernel's own updates load them",
  "HRDN-7222": "compilers left to all users: PHP's extensions are built (pecl) on some hosts; web users cannot log in anyway",
  "HRDN-7230 / FINT-4350":
    "no malware scanner or file integrity tool (rkhunter, AIDE): their nightly full-disk scans cost a small droplet more than they find, and sites' files change by design",
  "ACCT-9622 / ACCT-9628": "no process accounting or auditd: their logs grow with every PHP request and nobody reads them on a web host",
  "DEB-0810 / DEB-0811": "no apt-listbugs or apt-listchanges: unattended upgrades install security fixes with nobody at the terminal to read them",
  "USB-3000 / LOGG-2154": "no USBGuard and no remote syslog: droplets have no USB, and logs stay in the journal (Prometheus alerts on what matters)",
};
