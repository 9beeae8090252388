import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { eventually } from "../faults/measure";

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

/** The certificate nginx presents for `servername` on loopback `port`. */
function servedCertificateOnce(port: number, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on("error", reject);
  });
}

/**
 * The certificate nginx serves for `servername` on loopback `port`, once `settled` holds. A reload
 * returns when nginx has been told; for a moment after, a connection can still reach an old worker,
 * which serves the old certificate or closes on it ("socket hang up", seen in CI).
 */
export function servedCertificate(port: number, servername: string, settled: (certificate: PeerCertificate) => boolean = () => true): Promise<PeerCertificate> {
  return eventually(
    `nginx serving the expected certificate for ${servername}`,
    async () => {
      const certificate = await servedCertificateOnce(port, servername);
      return settled(certificate) ? certificate : undefined;
    },
    10,
  );
}
