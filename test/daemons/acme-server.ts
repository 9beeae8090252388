import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { freePort, startDaemon, type Daemon } from "./harness";
import { selfSignedCertificate } from "./certificates";

/**
 * A private ACME CA on loopback: Debian's Pebble, with Debian's pebble-challtestsrv as its DNS
 * server answering every name with 127.0.0.1, so HTTP-01 validation really fetches the token from
 * the nginx listening on `httpPort`. Pebble's own HTTPS listener uses a certificate made here;
 * clients trust it through `caBundle` (REQUESTS_CA_BUNDLE for certbot), never system-wide.
 */
export interface AcmeServer {
  readonly directory: string;
  /** PEM of the certificate Pebble's API listens with. */
  readonly caBundle: string;
  /** Makes `name` resolve to `address` instead of 127.0.0.1. */
  pointName(name: string, address: string): Promise<void>;
  /** PEM of the root that signs what Pebble issues (generated at each start). */
  issuingRoot(): Promise<string>;
  /** PEM of the intermediate that signs the leaf certificates. */
  issuingIntermediate(): Promise<string>;
  stop(): Promise<void>;
}

export async function startAcmeServer(dir: string, options: { httpPort: number; validitySeconds: number }): Promise<AcmeServer> {
  mkdirSync(dir, { recursive: true });
  const caBundle = join(dir, "pebble-api.pem");
  const apiKey = join(dir, "pebble-api.key");
  const api = selfSignedCertificate("pebble.megaweb.test", { days: 1, altNames: ["IP:127.0.0.1", "DNS:localhost"] });
  writeFileSync(caBundle, api.certificate);
  writeFileSync(apiKey, api.key, { mode: 0o600 });
  const [apiPort, managementPort, dnsPort, dnsManagementPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(dir, "pebble.json");
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${apiPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: caBundle,
        privateKey: apiKey,
        httpPort: options.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        certificateValidityPeriod: options.validitySeconds,
      },
    }),
  );
  const portOpen = (port: number) => () => {
    try {
      execFileSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  const dns = await startDaemon(
    "pebble-challtestsrv",
    ["-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${dnsManagementPort}`, "-defaultIPv6", ""],
    { check: portOpen(dnsManagementPort), awaited: `challtestsrv on ${dnsManagementPort}` },
  );
  let pebble: Daemon;
  try {
    // No random sleeps before validation and no random bad-nonce refusals: the test times issuance.
    pebble = await startDaemon(
      "pebble",
      ["-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`],
      { check: portOpen(apiPort), awaited: `pebble on ${apiPort}` },
      { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    );
  } catch (error) {
    await dns.stop();
    throw error;
  }
  const management = (path: string) => get(`https://127.0.0.1:${managementPort}${path}`, caBundle);
  return {
    directory: `https://127.0.0.1:${apiPort}/dir`,
    caBundle,
    async pointName(name, address) {
      await post(`http://127.0.0.1:${dnsManagementPort}/add-a`, JSON.stringify({ host: name, addresses: [address] }));
    },
    issuingRoot: () => management("/roots/0"),
    issuingIntermediate: () => management("/intermediates/0"),
    async stop() {
      await pebble.stop();
      await dns.stop();
    },
  };
}

function get(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(ca) }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode} ${body}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

async function post(url: string, body: string): Promise<void> {
  const answer = await fetch(url, { method: "POST", body });
  if (!answer.ok) throw new Error(`${url}: ${answer.status} ${await answer.text()}`);
}
