import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import Mustache from "mustache";

export interface HaproxyBackend {
  /** The plan's host name, e.g. `web-2`. */
  readonly name: string;
  /** The address HAProxy reaches it on: the private IP inside the VPC. */
  readonly address: string;
}

export interface HaproxyConfigInput {
  readonly backends: readonly HaproxyBackend[];
  /** Validated by the schema as a plain URL path, so it cannot break out of the config line. */
  readonly healthPath: string;
}

/** `/etc/haproxy/haproxy.cfg` for the HAProxy nodes, from `templates/haproxy/haproxy.cfg`. Pure. */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  return Mustache.render(readFileSync(templatePath("haproxy/haproxy.cfg"), "utf8"), input, {}, { escape: (value: string) => value });
}

/** Templates sit at the package root, above both the sources and the compiled `dist/`. */
function templatePath(file: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "templates", file);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`template ${file} not found above ${__dirname}`);
  }
}
