import { connect, type PeerCertificate } from "node:tls";
import { selfSignedCertificate } from "../daemons/certificates";
import type { Machine } from "./local-stack";

/**
 * A test ACME server on a local machine: Debian's Pebble, with pebble-challtestsrv as its DNS
 * server answering every name with the web host's address, so HTTP-01 reaches the site's nginx as
 * it would through real DNS. Pebble's own HTTPS listener has a certificate made here, which the web
 * host trusts (system-wide: certbot.service renews with the host's CA bundle) for the test only.
 * Both run as transient units and go with the machine.
 */
export interface AcmeMachine {
  /** The ACME directory URL for `certificates.acmeDirectory`. */
  readonly directory: string;
  /** Pebble's issuing root, generated at its start: what a client checks the site's certificate against. */
  issuingRoot(): string;
  /** Makes `name` resolve to `address` for Pebble's validation, instead of the web host. */
  pointName(name: string, address: string): void;
}

const dir = "/root/pebble";
const ports = { api: 14000, management: 15000, dns: 8053, dnsManagement: 8055 };

/** The address and port `directory` names, known before Pebble runs: the stack's config needs it first. */
export const acmeDirectoryOf = (acme: Machine) => `https://${acme.address}:${ports.api}/dir`;

/**
 * Starts Pebble on `acme` issuing certificates valid `validitySeconds` (Pebble 2.4's
 * `certificateValidityPeriod`), so certbot finds them due at once and a renewal is real.
 */
export function startAcmeMachine(acme: Machine, web: Machine, validitySeconds: number): AcmeMachine {
  acme.ssh(
    "command -v pebble >/dev/null && command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends pebble curl >/dev/null",
    undefined,
    300_000,
  );
  const api = selfSignedCertificate("pebble.megaweb.test", { days: 1, altNames: [`IP:${acme.address}`] });
  const config = {
    pebble: {
      listenAddress: `0.0.0.0:${ports.api}`,
      managementListenAddress: `127.0.0.1:${ports.management}`,
      certificate: `${dir}/api.pem`,
      privateKey: `${dir}/api.key`,
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      certificateValidityPeriod: validitySeconds,
    },
  };
  acme.ssh(`install -d -m 700 ${dir} && cat >${dir}/pebble.json`, JSON.stringify(config));
  acme.ssh(`install -m 600 /dev/stdin ${dir}/api.key`, api.key);
  acme.ssh(`install -m 644 /dev/stdin ${dir}/api.pem`, api.certificate);
  acme.ssh(
    [
      `systemd-run --quiet --unit=megaweb-test-challtestsrv pebble-challtestsrv -dns01 127.0.0.1:${ports.dns} -http01 '' -https01 '' -tlsalpn01 '' -management 127.0.0.1:${ports.dnsManagement} -defaultIPv6 '' -defaultIPv4 ${web.address}`,
      // No random sleeps before validation and no random bad-nonce refusals: the test times issuance.
      `systemd-run --quiet --unit=megaweb-test-pebble --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_WFE_NONCEREJECT=0 pebble -config ${dir}/pebble.json -dnsserver 127.0.0.1:${ports.dns}`,
      // megaweb's firewall on a host of the stack opens SSH only; the ACME server is the test's addition.
      // A machine outside the stack has no firewall to open.
      `{ ! nft list table inet filter >/dev/null 2>&1 || nft insert rule inet filter input tcp dport ${ports.api} accept; }`,
      `for _ in $(seq 50); do curl -sfk https://127.0.0.1:${ports.api}/dir >/dev/null && break; sleep 0.2; done`,
      `curl -sfk https://127.0.0.1:${ports.api}/dir >/dev/null`,
    ].join(" && "),
  );
  web.ssh("cat >/usr/local/share/ca-certificates/megaweb-test-pebble.crt && update-ca-certificates >/dev/null", api.certificate);
  return {
    directory: acmeDirectoryOf(acme),
    issuingRoot: () => acme.ssh(`curl -sfk https://127.0.0.1:${ports.management}/roots/0`),
    pointName: (name, address) =>
      void acme.ssh(`curl -sf -X POST --data-binary @- http://127.0.0.1:${ports.dnsManagement}/add-a`, JSON.stringify({ host: name, addresses: [address] })),
  };
}

export interface HttpsAnswer {
  readonly certificate: PeerCertificate;
  readonly status: number;
  readonly headers: string;
  readonly body: string;
}

/** A GET of `path` over HTTPS on port 443 of `address` for `servername`, whose certificate must chain to `ca`. */
export function httpsGet(address: string, servername: string, ca: string, path: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: 443, servername, ca, timeout: 10_000 }, () => {
      const certificate = socket.getPeerCertificate();
      let answer = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (answer += chunk));
      socket.on("end", () => {
        const [head = "", body = ""] = answer.split("\r\n\r\n");
        resolve({ certificate, status: Number(head.split(" ")[1]), headers: head, body });
      });
      socket.end(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.on("timeout", () => socket.destroy(new Error(`https://${servername}${path} timed out`)));
    socket.on("error", reject);
  });
}
