import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import Mustache from "mustache";

/**
 * Renders `templates/<name>` with a view. HTML escaping is off: these are config files, and every
 * value reaching them has passed the schema's character rules.
 */
export function renderTemplate(name: string, view: object, partials: Record<string, string> = {}): string {
  const loaded = Object.fromEntries(Object.entries(partials).map(([partial, file]) => [partial, template(file)]));
  return Mustache.render(template(name), view, loaded, { escape: (value: string) => value });
}

const cache = new Map<string, string>();

function template(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(templatesDir(), name), "utf8");
    cache.set(name, text);
  }
  return text;
}

let foundDir: string | undefined;

/** `templates/` sits at the package root: two levels up from lib/render in a checkout, three from dist/lib/render. */
function templatesDir(): string {
  if (foundDir !== undefined) return foundDir;
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "templates", "nginx", "site.conf"))) return (foundDir = join(dir, "templates"));
  }
  throw new Error(`megaweb's templates/ directory was not found above ${__dirname}`);
}
