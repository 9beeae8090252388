import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Audit, sshAudit } from "../hardening/ssh-audit";
import { type Machine, repo } from "./local-stack";

/** What Lynis and ssh-audit say of one provisioned host. */
export interface HostGrade {
  readonly role: string;
  readonly lynis: { readonly hardeningIndex: number; readonly warnings: string[]; readonly suggestions: string[] };
  readonly sshAudit: Audit;
}

const gradesFile = join(repo, "test-output", "e2e-hardening.json");

/**
 * Grades a host as an auditor would after provisioning: Lynis (Debian's, installed for the audit)
 * from the inside, ssh-audit from the operators' address. Each grade is added to
 * test-output/e2e-hardening.json under its role, so the e2e files that provision different roles
 * build one table.
 */
export async function gradeHost(machine: Machine, role: string): Promise<HostGrade> {
  await machine.sshAsync("apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends lynis >/dev/null", 600_000);
  // Lynis takes minutes on a busy host, far longer than a command's usual minute.
  await machine.sshAsync("lynis audit system --quick --no-colors >/dev/null 2>&1", 900_000);
  const report = (await machine.sshAsync("cat /var/log/lynis-report.dat", 60_000)).split("\n");
  const values = (key: string) => report.filter((line) => line.startsWith(`${key}=`)).map((line) => line.slice(key.length + 1));
  const grade: HostGrade = {
    role,
    lynis: {
      hardeningIndex: Number(values("hardening_index")[0]),
      warnings: values("warning[]"),
      // "ID text", without Lynis's trailing detail columns.
      suggestions: [...new Set(values("suggestion[]").map((suggestion) => suggestion.split("|").slice(0, 2).join(" ")))],
    },
    sshAudit: sshAudit(machine.address),
  };
  mkdirSync(join(repo, "test-output"), { recursive: true });
  let grades: Record<string, HostGrade> = {};
  try {
    grades = JSON.parse(readFileSync(gradesFile, "utf8")) as Record<string, HostGrade>;
  } catch {
    // No table yet, or one from before this format: start it.
  }
  grades[role] = grade;
  writeFileSync(gradesFile, `${JSON.stringify(grades, null, 2)}\n`);
  return grade;
}
