import { execFileSync } from "node:child_process";

export interface Audit {
  readonly fail: string[];
  readonly warn: string[];
}

/** Installed by scripts/setup/25-ssh-audit.sh, which says why not Debian's. */
const sshAuditProgram = `${process.env.MEGAWEB_CACHE ?? "/var/cache/megaweb"}/ssh-audit-3.2.0/bin/ssh-audit`;

/** ssh-audit's findings on an sshd, one line per algorithm and level (its exit code only says the worst). */
export function sshAudit(address: string, port = 22): Audit {
  let output: string;
  try {
    output = execFileSync(sshAuditProgram, ["-n", "-p", String(port), address], { encoding: "utf8" });
  } catch (error) {
    output = (error as { stdout: string }).stdout;
  }
  // A finding's first line names the algorithm; further findings on it follow as "`- [level] …".
  let algorithm = "";
  const findings: Record<"fail" | "warn", string[]> = { fail: [], warn: [] };
  for (const line of output.split("\n")) {
    const match = /^(?:\((\w+)\) (\S+)\s+--|\s+`-) \[(fail|warn)\] (.*)$/.exec(line);
    if (match === null) continue;
    if (match[1] !== undefined) algorithm = `${match[1]} ${match[2]}`;
    findings[match[3] as "fail" | "warn"].push(`${algorithm}: ${match[4]}`);
  }
  return findings;
}
