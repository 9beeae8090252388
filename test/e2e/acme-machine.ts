import { connect } from "node:tls";
import type { Machine } from "./local-stack";

/**
 * A test ACME server on a local machine: Debian's Pebble, with pebble-challtestsrv as its DNS
 * server answering every name with the web host's address, so HTTP-01 reaches the site's nginx as
 * it would through real DNS. Pebble's own HTTPS listener has a certificate made here, which the web
 * host trusts for the test only. Both run as transient units and go with the machine.
 */
export interface AcmeMachine {
  /** The ACME directory URL for `certificates.acmeDirectory`. */
  readonly directory: string;
  /** Pebble's issuing root, generated at its start: what a client checks the site's certificate against. */
  issuingRoot(): string;
}

const dir = "/root/pebble";

export function startAcmeMachine(acme: Machine, web: Machine): AcmeMachine {
  acme.ssh(
    "command -v pebble >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends pebble openssl >/dev/null",
    undefined,
    300_000,
  );
  const config = {
    pebble: {
      listenAddress: "0.0.0.0:14000",
      managementListenAddress: "127.0.0.1:15000",
      certificate: `${dir}/api.pem`,
      privateKey: `${dir}/api.key`,
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  acme.ssh(
    [
      `install -d -m 700 ${dir}`,
      `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=pebble.megaweb.test -addext subjectAltName=IP:${acme.address} -keyout ${dir}/api.key -out ${dir}/api.pem 2>/dev/null`,
      `cat >${dir}/pebble.json`,
    ].join(" && "),
    JSON.stringify(config),
  );
  acme.ssh(
    [
      `systemd-run --quiet --unit=megaweb-test-challtestsrv pebble-challtestsrv -dns01 127.0.0.1:8053 -http01 '' -https01 '' -tlsalpn01 '' -management 127.0.0.1:8055 -defaultIPv6 '' -defaultIPv4 ${web.address}`,
      // No random sleeps before validation and no random bad-nonce refusals: the test times issuance.
      `systemd-run --quiet --unit=megaweb-test-pebble --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_WFE_NONCEREJECT=0 pebble -config ${dir}/pebble.json -dnsserver 127.0.0.1:8053`,
      // The backup host's firewall (megaweb's) opens SSH only; the test's ACME server is an addition for the test.
      "nft insert rule inet filter input tcp dport 14000 accept",
      "for _ in $(seq 50); do curl -sfk https://127.0.0.1:14000/dir >/dev/null && break; sleep 0.2; done",
      "curl -sfk https://127.0.0.1:14000/dir >/dev/null",
    ].join(" && "),
  );
  web.ssh("cat >/usr/local/share/ca-certificates/megaweb-test-pebble.crt && update-ca-certificates >/dev/null", acme.ssh(`cat ${dir}/api.pem`));
  return {
    directory: `https://${acme.address}:14000/dir`,
    issuingRoot: () => acme.ssh("curl -sfk https://127.0.0.1:15000/roots/0"),
  };
}

/** The certificate a TLS server presents for `servername`, checked against `ca`: its serial and the HTTP answer to a GET of `path`. */
export function httpsGet(
  address: string,
  servername: string,
  ca: string,
  path: string,
): Promise<{ serial: string; status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: 443, servername, ca, timeout: 10_000 }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      let answer = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (answer += chunk));
      socket.on("end", () => {
        const [head = "", body = ""] = answer.split("\r\n\r\n");
        resolve({ serial, status: Number(head.split(" ")[1]), headers: head, body });
      });
      socket.end(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.on("timeout", () => socket.destroy(new Error(`https://${servername}${path} timed out`)));
    socket.on("error", reject);
  });
}
