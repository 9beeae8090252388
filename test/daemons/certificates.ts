import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertificatePair {
  readonly certificate: string;
  readonly key: string;
}

/**
 * A self-signed P-256 certificate and its key, as PEM, made by openssl: `commonName` also heads
 * the subject alternative names, which take `DNS:` or `IP:` entries.
 */
export function selfSignedCertificate(commonName: string, options: { days: number; altNames?: readonly string[] }): CertificatePair {
  const dir = mkdtempSync(join(tmpdir(), "megaweb-cert-"));
  try {
    const altNames = options.altNames ?? [`DNS:${commonName}`];
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
        ...["-days", String(options.days), "-subj", `/CN=${commonName}`, "-addext", `subjectAltName=${altNames.join(",")}`],
        ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      ],
      { stdio: "ignore" },
    );
    return { certificate: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
