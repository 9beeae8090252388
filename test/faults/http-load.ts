/**
 * A bounded HTTP load as a program, for running inside another network namespace
 * (`ip netns exec NS npx tsx test/faults/http-load.ts URL SECONDS [PAUSE_MS] [TIMEOUT_MS]`): one
 * new connection per request (so each request follows the address wherever it moved), every
 * outcome with the answer's body as its value, printed as one JSON LoadRecord on stdout.
 */
import { request } from "node:http";
import { runLoad } from "./measure";

function get(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => (response.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${response.statusCode}`))));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

const [url, seconds, pauseMs = "20", timeoutMs = "1000"] = process.argv.slice(2);
if (url === undefined || seconds === undefined) throw new Error("usage: http-load.ts URL SECONDS [PAUSE_MS] [TIMEOUT_MS]");
runLoad(() => get(url, Number(timeoutMs)), {
  maxOperations: 100_000,
  maxSeconds: Number(seconds),
  pauseMs: Number(pauseMs),
  timeoutMs: Number(timeoutMs) + 500,
}).then((record) => process.stdout.write(`${JSON.stringify(record)}\n`));
