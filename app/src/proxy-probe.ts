import http from "node:http";
import net from "node:net";

export interface ProbeTarget {
  host: string;
  port: number;
  protocol: "http" | "https" | "socks5";
}

export type ProbeResult = { ok: true; latencyMs: number } | { ok: false; latencyMs: number; error: string };

/**
 * One health check of a proxy, bounded by `timeoutMs`:
 * - http with a check URL: a GET of that URL through the proxy; any answer from the target counts,
 *   a 5xx from the proxy itself (502, 503, 504: it could not reach the target) or 407 does not;
 * - socks5: the SOCKS5 greeting (no-authentication method), which a SOCKS server answers;
 * - otherwise (https, or http without a check URL): a TCP connect.
 */
export async function probeProxy(target: ProbeTarget, timeoutMs: number, checkUrl?: string): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    if (target.protocol === "http" && checkUrl) await requestThrough(target, checkUrl, timeoutMs);
    else if (target.protocol === "socks5") await socksGreeting(target, timeoutMs);
    else await connect(target, timeoutMs).then((socket) => socket.destroy());
    return { ok: true, latencyMs: elapsed() };
  } catch (error) {
    return { ok: false, latencyMs: elapsed(), error: (error as Error).message.slice(0, 255) };
  }
}

function connect(target: ProbeTarget, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.setTimeout(0);
      socket.removeListener("error", reject);
      resolve(socket);
    });
  });
}

function requestThrough(target: ProbeTarget, checkUrl: string, timeoutMs: number): Promise<void> {
  const url = new URL(checkUrl);
  return new Promise((resolve, reject) => {
    // An absolute URL as the request target is how a client asks an HTTP proxy for another host.
    const request = http.request({ host: target.host, port: target.port, method: "GET", path: url.href, headers: { host: url.host }, agent: false });
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.once("response", (response) => {
      clearTimeout(timer);
      response.resume();
      request.destroy();
      const status = response.statusCode ?? 0;
      if (status === 407 || status === 502 || status === 503 || status === 504) reject(new Error(`proxy answered ${status}`));
      else resolve();
    });
    request.end();
  });
}

async function socksGreeting(target: ProbeTarget, timeoutMs: number): Promise<void> {
  const socket = await connect(target, timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.setTimeout(timeoutMs, () => reject(new Error(`no SOCKS5 answer within ${timeoutMs} ms`)));
      socket.once("error", reject);
      socket.once("close", () => reject(new Error("closed before answering the SOCKS5 greeting")));
      socket.once("data", (reply) => {
        // 0x05 then the chosen method; 0xff means none of ours (no authentication) is acceptable.
        if (reply[0] === 0x05 && reply[1] !== 0xff) resolve();
        else reject(new Error(`not a SOCKS5 answer: ${reply.subarray(0, 2).toString("hex")}`));
      });
      socket.write(Buffer.from([0x05, 0x01, 0x00]));
    });
  } finally {
    socket.destroy();
  }
}
