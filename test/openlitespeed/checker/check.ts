import { dirname, join } from "node:path";
import { olsKeywords } from "./keywords";
import {
  blocksNamed,
  firstValue,
  isNamed,
  parseOlsConfig,
  statementsNamed,
  type OlsBlock,
  type OlsCheckId,
  type OlsFinding,
  type OlsIncludeResolver,
  type OlsNode,
  type OlsPlace,
  type OlsStatement,
  type ParsedOlsFile,
} from "./parse";

/**
 * The checks of test/openlitespeed/reference/CHECKS.md over parsed OLS config files. Each
 * finding names its check id (S1…V14), the file and line. OLS cannot run here, so this is what
 * stands between a rendered OLS config and a server that silently drops a vhost or serves 403.
 */

/** What a file is: the server file, a vhost's own `configFile`, or a `conf/templates/*.conf`. */
export type OlsFileKind = "server" | "vhost" | "template";

/** A file as rendering produces it (`HostFile` fits). */
export interface OlsFileInput {
  readonly path: string;
  readonly content: string;
}

export interface OlsCheckOptions {
  /** `$SERVER_ROOT`; relative paths in OLS resolve against it. @default "/usr/local/lsws" */
  serverRoot?: string;
}

const keywords = new Set(olsKeywords.map((keyword) => keyword.toLowerCase()));

/** `saveUnknownItems`: inside these blocks an unknown key becomes a `param`/`rules` line. */
const openBlocks = new Set(["module", "context", "rewrite", "urlfilter"]);

/** Keys written once per list item (GRAMMAR.md §2.11); every other key is single-valued. */
const repeatableKeys = new Set(["env", "add", "map", "dir", "member", "param", "include", "php_value", "php_flag", "php_admin_value", "php_admin_flag"]);
/** Blocks that name an object (GRAMMAR.md §2.14) may appear once per name. */
const namedBlocks = new Set(["context", "errorpage", "module", "vhtemplate", "member", "realm", "websocket"]);
/** Named blocks whose duplicates R1, R6 and R8 report with what OLS then does. */
const registeredBlocks = new Set(["virtualhost", "listener", "extprocessor"]);

const handlerTypes = ["fcgi", "lsapi", "proxy", "scgi", "uwsgi", "servlet", "loadbalancer", "module"];
const extAppTypes = ["fcgi", "fcgiauth", "lsapi", "proxy", "scgi", "uwsgi", "servlet", "logger", "loadbalancer"];
const contextTypes = [
  "null",
  "static",
  "cgi",
  "fcgi",
  "lsapi",
  "proxy",
  "redirect",
  "webapp",
  "appserver",
  "servlet",
  "loadbalancer",
  "module",
  "scgi",
  "uwsgi",
];
/** The stock `accessDenyDir` (STOCK:81-87), used when the server file gives none. */
const stockDeniedDirs = ["/", "/etc/*", "/dev/*", "$SERVER_ROOT/conf/*", "$SERVER_ROOT/admin/conf/*"];

interface NumericRule {
  check: OlsCheckId;
  min: number;
  max?: number;
}

/** Ranges from `getLongValue` calls; keyed by `parent block/key`, both lowercase. */
const numericRules: Record<string, NumericRule> = {
  "virtualhost/allowsymbollink": { check: "R3", min: 0, max: 2 },
  "virtualhost/enablescript": { check: "R3", min: 1, max: 1 },
  "virtualhost/restrained": { check: "R3", min: 0, max: 1 },
  "virtualhost/setuidmode": { check: "R3", min: 0, max: 2 },
  "extprocessor/maxconns": { check: "V7", min: 1, max: 10000 },
  "extprocessor/inittimeout": { check: "V7", min: 1 },
  "extprocessor/retrytimeout": { check: "V7", min: 0 },
  "extprocessor/persistconn": { check: "V7", min: 0, max: 1 },
  "extprocessor/respbuffer": { check: "V7", min: 0, max: 2 },
  "extprocessor/pckeepalivetimeout": { check: "V7", min: -1 },
  "extprocessor/autostart": { check: "V7", min: 0, max: 2 },
  "extprocessor/backlog": { check: "V7", min: 1, max: 100 },
  "extprocessor/instances": { check: "V7", min: 1 },
  "index/useserver": { check: "V8", min: 0, max: 2 },
  "errorlog/useserver": { check: "V9", min: 0, max: 1 },
  "accesslog/useserver": { check: "V9", min: 0, max: 2 },
  "rewrite/enable": { check: "V11", min: 0, max: 1 },
  "rewrite/autoloadhtaccess": { check: "V11", min: 0, max: 1 },
  "rewrite/loglevel": { check: "V11", min: 0, max: 9 },
  "listener/secure": { check: "S8", min: 0, max: 1 },
  "listener/certchain": { check: "S8", min: 0, max: 1 },
  "vhssl/certchain": { check: "S8", min: 0, max: 1 },
  "context/allowbrowse": { check: "S8", min: 0, max: 1 },
};
/** Keys that only matter for apps OLS spawns itself (`LocalWorkerConfig`). */
const spawnOnlyKeys = new Set(["backlog", "instances"]);

const vhostNamePattern = /^[^\s,;<>&%=()"']{1,100}$/;
const listenerAddressPattern = /^(\*|\[ANY\]|[0-9.]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;
const scriptHandlerPattern = /^([a-z]+):([^\s:]+)[ \t]+[A-Za-z0-9_-]+(\s*,\s*[A-Za-z0-9_-]+)*$/;
const udsAddressPattern = /^uds:\/\/[^/\s]\S*$/i;
const tcpAddressPatterns = [/^[A-Za-z0-9._-]+:(\d{1,5})$/, /^\[[0-9A-Fa-f:]+\]:(\d{1,5})$/];

class Findings {
  readonly list: OlsFinding[] = [];
  /** @param file where findings about something missing (line 0) belong */
  constructor(private readonly file: string) {}
  /** At a node (which knows its own file, included or not), or at line 0 for what is missing. */
  add(check: OlsCheckId, at: OlsPlace | 0, message: string): void {
    this.list.push(at === 0 ? { check, file: this.file, line: 0, message } : { check, file: at.file, line: at.line, message });
  }
}

/** Where an earlier occurrence is: its line, or file:line when it sits in another file. */
function where(first: OlsPlace, at: OlsPlace): string {
  return first.file === at.file ? `line ${first.line}` : `${first.file}:${first.line}`;
}

function lower(text: string): string {
  return text.toLowerCase();
}

function walk(block: OlsBlock, visit: (node: OlsNode, parent: OlsBlock) => void): void {
  for (const child of block.children) {
    visit(child, block);
    if (child.kind === "block") walk(child, visit);
  }
}

function isRootedPath(path: string): boolean {
  return path.startsWith("/") || /^\$(SERVER_ROOT|VH_ROOT|DOC_ROOT)(\/|$)/.test(path);
}

// ---------------------------------------------------------------------------------------------
// S: syntax, on any file

function checkSyntax(parsed: ParsedOlsFile, out: Findings): void {
  walk(parsed.root, (node, parent) => {
    if (node.kind === "include") return;
    const parentName = lower(parent.name);
    const name = lower(node.name);

    if (node.kind === "statement" && !node.heredoc) {
      const value = node.value;
      if (value.startsWith("{") || /(^|\s)[{}](\s|$)/.test(value) || value.endsWith("}")) {
        out.add("S2", node, `"${node.name} ${value}" is a one-line block; OLS reads it as one key with that text as its value`);
      } else if (value.endsWith(";")) {
        out.add("S2", node, `"${node.name} ${value}" ends in ";"; OLS has no separators, so it becomes part of the value`);
      }
      if (/\s#/.test(value)) {
        out.add("S4", node, `"${node.name} ${value}" has a trailing comment; OLS keeps it as part of the value`);
      }
    }
    if (node.kind === "block" && /\s#/.test(node.value)) {
      out.add("S4", node, `block "${node.name} ${node.value}" has a trailing comment in its name`);
    }

    if (!keywords.has(name) && !name.includes("::")) {
      if (node.kind === "block") {
        const into = parent.name ? `"${parent.name}"` : "the top level";
        out.add("S3", node, `block name "${node.name}" is not an OLS keyword; OLS drops the line, reads the body into ${into}, and its "}" closes ${into}`);
      } else if (!openBlocks.has(parentName)) {
        out.add("S3", node, `key "${node.name}" is not an OLS keyword (Not support)`);
      }
    }
  });

  checkRepeatedKeys(parsed.root, out);
  walk(parsed.root, (node, parent) => {
    if (node.kind === "statement") checkNumber(node, parent, out);
  });
}

function checkRepeatedKeys(block: OlsBlock, out: Findings): void {
  const seen = new Map<string, OlsPlace>();
  const parentAcceptsUnknown = openBlocks.has(lower(block.name));
  for (const child of block.children) {
    if (child.kind === "include") continue;
    const name = lower(child.name);
    if (child.kind === "block") checkRepeatedKeys(child, out);
    if (repeatableKeys.has(name) || registeredBlocks.has(name) || (parentAcceptsUnknown && !keywords.has(name))) continue;
    const key = child.kind === "block" && namedBlocks.has(name) ? `${name} ${child.value}` : name;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, child);
    } else {
      out.add(
        "S7",
        child,
        `"${child.name}${child.kind === "block" && namedBlocks.has(name) ? ` ${child.value}` : ""}" repeats ${where(first, child)} in the same block; OLS uses the first one only`,
      );
    }
  }
}

function parseOlsNumber(value: string): number | undefined {
  const match = /^(-?\d+)([KMG])?$/i.exec(value);
  if (!match) return undefined;
  const scale = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(match[2] ?? "").toUpperCase() as "K" | "M" | "G"] ?? 1;
  return Number(match[1]) * scale;
}

function checkNumber(node: OlsStatement, parent: OlsBlock, out: Findings): void {
  const parentName = lower(parent.name);
  const rule = numericRules[`${parentName}/${lower(node.name)}`];
  // An empty value means "not set" (stock files write `pcKeepAliveTimeout` alone).
  if (!rule || node.value === "") return;
  if (parentName === "extprocessor" && spawnOnlyKeys.has(lower(node.name))) {
    const autoStart = firstValue(parent, "autoStart");
    if (autoStart?.value === "0") return;
  }
  const number = parseOlsNumber(node.value);
  if (number === undefined) {
    out.add("S8", node, `${node.name} "${node.value}" is not a number (digits with an optional K, M or G)`);
    return;
  }
  if (number < rule.min || (rule.max !== undefined && number > rule.max)) {
    const range = rule.max === undefined ? `at least ${rule.min}` : rule.min === rule.max ? `${rule.min}` : `${rule.min}..${rule.max}`;
    const why = lower(node.name) === "enablescript" ? '; with 0 every PHP request gets 403 "Scripting is disabled"' : "; OLS warns and uses its default";
    out.add(rule.check, node, `${node.name} ${node.value} must be ${range}${why}`);
  }
}

// ---------------------------------------------------------------------------------------------
// R: registration in the server file

function expand(path: string, vars: Record<string, string>): string {
  return path.replace(/\$(SERVER_ROOT|VH_ROOT|DOC_ROOT|VH_NAME)/g, (whole, name: string) => vars[name] ?? whole);
}

interface ServerFacts {
  virtualHosts: OlsBlock[];
  members: string[];
  extProcessors: OlsBlock[];
  deniedDirs: string[];
}

function serverFacts(parsed: ParsedOlsFile): ServerFacts {
  const templates = blocksNamed(parsed.root, "vhTemplate");
  const denyBlock = blocksNamed(parsed.root, "accessDenyDir")[0];
  return {
    virtualHosts: blocksNamed(parsed.root, "virtualhost"),
    members: templates.flatMap((template) => blocksNamed(template, "member").map((member) => member.value)),
    extProcessors: blocksNamed(parsed.root, "extprocessor"),
    deniedDirs: denyBlock ? statementsNamed(denyBlock, "dir").map((dir) => dir.value) : stockDeniedDirs,
  };
}

function checkRegistration(parsed: ParsedOlsFile, serverRoot: string, out: Findings): void {
  const facts = serverFacts(parsed);
  const vhostNames = new Map<string, OlsPlace>();
  for (const vhost of facts.virtualHosts) {
    const name = vhost.value;
    if (name === "_AdminVHost") out.add("R1", vhost, `virtualhost name "_AdminVHost" is reserved for the WebAdmin`);
    if (!vhostNamePattern.test(name)) {
      out.add("R1", vhost, `virtualhost name "${name}" must be 1-100 characters without blanks or any of ,;<>&%="'()`);
    }
    const first = vhostNames.get(name);
    if (first !== undefined) out.add("R1", vhost, `virtualhost "${name}" is already defined at ${where(first, vhost)}`);
    else vhostNames.set(name, vhost);

    for (const key of ["vhRoot", "configFile"]) {
      const statement = firstValue(vhost, key);
      if (!statement || statement.value === "") {
        out.add("R2", vhost, `virtualhost "${name}" has no ${key}; OLS drops the vhost`);
        continue;
      }
      const resolved = expand(statement.value, { SERVER_ROOT: serverRoot, VH_NAME: name });
      if (!resolved.startsWith("/")) {
        out.add("R2", statement, `${key} "${statement.value}" is relative and resolves against $SERVER_ROOT; give an absolute or $SERVER_ROOT path`);
      } else if (lower(key) === "configfile" && !resolved.startsWith(`${serverRoot}/conf/vhosts/`)) {
        out.add("R2", statement, `configFile "${statement.value}" must be under $SERVER_ROOT/conf/vhosts/`);
      }
    }
  }
  for (const member of facts.members) {
    if (vhostNames.has(member)) out.add("R1", 0, `template member "${member}" has the name of a virtualhost`);
  }

  const knownVhosts = new Set([...vhostNames.keys(), ...facts.members]);
  const listenerNames = new Map<string, OlsPlace>();
  const listenerAddresses = new Map<string, string>();
  for (const listener of blocksNamed(parsed.root, "listener")) {
    const first = listenerNames.get(listener.value);
    if (first !== undefined) out.add("R6", listener, `listener "${listener.value}" is already defined at ${where(first, listener)}`);
    else listenerNames.set(listener.value, listener);

    const address = firstValue(listener, "address");
    const match = address ? listenerAddressPattern.exec(address.value) : null;
    const port = match ? Number(match[2]) : 0;
    if (!address) {
      out.add("R6", listener, `listener "${listener.value}" has no address`);
    } else if (!match || port < 1 || port > 65535) {
      out.add("R6", address, `listener address "${address.value}" must be *:PORT, [ANY]:PORT, IP:PORT or [IPv6]:PORT with a port of 1..65535`);
    } else {
      const other = listenerAddresses.get(address.value);
      if (other !== undefined) out.add("R6", address, `listener "${listener.value}" shares address ${address.value} with listener "${other}"`);
      else listenerAddresses.set(address.value, listener.value);
    }

    if (firstValue(listener, "secure")?.value === "1") {
      for (const key of ["keyFile", "certFile"]) {
        const file = firstValue(listener, key);
        if (!file || file.value === "") out.add("R7", listener, `secure listener "${listener.value}" has no ${key}; OLS does not start it`);
        else if (!file.value.startsWith("/") && !file.value.startsWith("$SERVER_ROOT/")) {
          out.add("R7", file, `${key} "${file.value}" must be an absolute path`);
        }
      }
    }

    const mappedTo = new Map<string, string>();
    for (const map of statementsNamed(listener, "map")) {
      const cut = map.value.search(/[ \t]/);
      const vhostName = cut < 0 ? map.value : map.value.slice(0, cut);
      const domains =
        cut < 0
          ? []
          : map.value
              .slice(cut)
              .split(",")
              .map((domain) => domain.trim())
              .filter(Boolean);
      if (domains.length === 0) {
        out.add("R4", map, `map "${map.value}" must be "map VHNAME domain[, domain…]" with at least one domain`);
      }
      if (!knownVhosts.has(vhostName)) {
        out.add("R4", map, `map names virtualhost "${vhostName}", which is not defined (names are case-sensitive)`);
      }
      for (const domain of domains) {
        const key = normalizeMappedDomain(domain);
        const owner = mappedTo.get(key);
        if (owner !== undefined && owner !== vhostName) {
          out.add("R5", map, `listener "${listener.value}" maps ${domain} to "${owner}" already; OLS refuses to map it to "${vhostName}"`);
        } else {
          mappedTo.set(key, vhostName);
        }
      }
    }
  }

  checkExtProcessorNames(parsed.root, out);
}

/** `VHostMap` lowercases, drops `:port` and strips a leading `www.` when it stores a map. */
export function normalizeMappedDomain(domain: string): string {
  return lower(domain.trim())
    .replace(/:\d+$/, "")
    .replace(/^www\./, "");
}

function checkExtProcessorNames(scope: OlsBlock, out: Findings): void {
  const seen = new Map<string, OlsPlace>();
  for (const app of blocksNamed(scope, "extprocessor")) {
    const key = `${lower(firstValue(app, "type")?.value ?? "")} ${app.value}`;
    const first = seen.get(key);
    if (first !== undefined)
      out.add("R8", app, `extprocessor "${app.value}" of the same type is already defined at ${where(first, app)}; OLS silently reuses the first`);
    else seen.set(key, app);
  }
}

// ---------------------------------------------------------------------------------------------
// V: a vhost's config (also server-level handlers and apps, which vhosts inherit)

interface HandlerScope {
  /** extprocessors visible to this file: its own first, then the server's. */
  own: OlsBlock[];
  server: OlsBlock[];
}

function findApp(scope: HandlerScope, name: string): OlsBlock | undefined {
  return scope.own.find((app) => app.value === name) ?? scope.server.find((app) => app.value === name);
}

function checkHandlersAndApps(body: OlsBlock, scope: HandlerScope, out: Findings): void {
  const phpApps: OlsBlock[] = [];
  for (const handler of blocksNamed(body, "scripthandler")) {
    const adds = statementsNamed(handler, "add");
    if (adds.length === 0) out.add("V3", handler, "scripthandler has no `add TYPE:NAME SUFFIXES` line");
    for (const add of adds) {
      const match = scriptHandlerPattern.exec(add.value);
      if (!match || !handlerTypes.includes(match[1]!)) {
        out.add(
          "V3",
          add,
          `add "${add.value}" must be TYPE:NAME SUFFIXES with TYPE one of ${handlerTypes.join(", ")} and suffixes without dots (add fcgi:NAME php)`,
        );
        continue;
      }
      const [, type, name] = match as unknown as [string, string, string];
      const app = findApp(scope, name);
      if (!app) {
        out.add(
          "V4",
          add,
          `handler "${name}" names no extprocessor in this file or the server file (names are case-sensitive); OLS then answers every request for these suffixes with 403`,
        );
      } else if (lower(firstValue(app, "type")?.value ?? "") !== type) {
        out.add("V4", add, `handler "${type}:${name}" names an extprocessor of type "${firstValue(app, "type")?.value ?? ""}"`);
      } else if (
        add.value
          .slice(match[0].indexOf(name) + name.length)
          .split(",")
          .some((suffix) => suffix.trim() === "php")
      ) {
        phpApps.push(app);
      }
    }
  }

  for (const app of blocksNamed(body, "extprocessor")) {
    const type = firstValue(app, "type");
    if (!type || !extAppTypes.includes(lower(type.value))) {
      out.add("V5", type ?? app, `extprocessor "${app.value}" needs a type among ${extAppTypes.join(", ")}`);
    }
    const address = firstValue(app, "address");
    if (address && !isExtAppAddress(address.value)) {
      out.add(
        "V6",
        address,
        `address "${address.value}" must be uds:// followed by the socket's absolute path without its leading "/" (uds://run/php/x.sock), or HOST:PORT`,
      );
    }
    for (const env of statementsNamed(app, "env")) {
      if (!/^\S+=\S+$/.test(env.value)) out.add("V7", env, `env "${env.value}" must be KEY=VALUE`);
    }
  }

  for (const app of new Set(phpApps)) {
    const type = firstValue(app, "type")?.value ?? "";
    const autoStart = firstValue(app, "autoStart");
    if (lower(type) !== "fcgi") out.add("V5", app, `PHP goes to "${app.value}" of type "${type}"; megaweb serves PHP through PHP-FPM (type fcgi)`);
    if (!firstValue(app, "address")) out.add("V5", app, `extprocessor "${app.value}" has no address`);
    if (autoStart?.value !== "0") {
      out.add("V5", autoStart ?? app, `extprocessor "${app.value}" needs an explicit autoStart 0: absent means 1, and OLS then tries to spawn PHP itself`);
    }
    const path = firstValue(app, "path");
    if (path) out.add("V5", path, `extprocessor "${app.value}" has a path, but PHP-FPM is started by systemd, not OLS`);
  }
}

function isExtAppAddress(address: string): boolean {
  if (udsAddressPattern.test(address)) return true;
  return tcpAddressPatterns.some((pattern) => {
    const match = pattern.exec(address);
    return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65535;
  });
}

interface VhostContext {
  name?: string;
  vhRoot?: string;
  restrained?: boolean;
  deniedDirs: string[];
  serverRoot: string;
  serverApps: OlsBlock[];
  exists?: (path: string) => boolean;
}

function checkVhostBody(body: OlsBlock, context: VhostContext, out: Findings): void {
  const docRoot = firstValue(body, "docRoot");
  if (!docRoot || docRoot.value === "") {
    out.add("V1", 0, "docRoot is missing (OLS: missing <docRoot> in <virtualHostConfig>)");
  } else if (!docRoot.value.startsWith("/") && !/^\$(VH_ROOT|SERVER_ROOT)(\/|$)/.test(docRoot.value)) {
    out.add("V1", docRoot, `docRoot "${docRoot.value}" must be absolute or start with $VH_ROOT/`);
  } else if (context.vhRoot !== undefined) {
    const vars = { SERVER_ROOT: context.serverRoot, VH_ROOT: context.vhRoot.replace(/\/?$/, ""), VH_NAME: context.name ?? "" };
    const resolved = expand(docRoot.value, vars);
    if (context.exists && !context.exists(resolved)) {
      out.add("V1", docRoot, `docRoot ${resolved} does not exist; OLS drops the vhost with only a WARN`);
    }
    if (context.restrained && !`${resolved}/`.startsWith(`${vars.VH_ROOT}/`)) {
      out.add("V1", docRoot, `docRoot ${resolved} lies outside vhRoot ${vars.VH_ROOT}, which restrained 1 forbids`);
    }
    for (const denied of context.deniedDirs) {
      const dir = expand(denied, vars);
      const blocked = dir.endsWith("/*")
        ? `${resolved}/`.startsWith(dir.slice(0, -1))
        : resolved.replace(/\/+$/, "") === dir.replace(/\/+$/, "") || resolved === dir;
      if (blocked) out.add("V14", docRoot, `docRoot ${resolved} is under accessDenyDir ${denied}`);
    }
  }

  const isPhp = blocksNamed(body, "scripthandler").some((handler) => statementsNamed(handler, "add").some((add) => /[\s,]php(\s*,|\s*$)/.test(add.value)));
  const index = blocksNamed(body, "index")[0];
  if (!index) {
    out.add("V8", 0, "no index block; the server's list (index.html, index.php) would be used");
  } else {
    if (firstValue(index, "useServer")?.value !== "0") out.add("V8", index, "index needs useServer 0 (the default 1 uses the server's list)");
    const files = (firstValue(index, "indexFiles")?.value ?? "").split(",").map((file) => file.trim());
    if (isPhp && !files.includes("index.php")) out.add("V8", index, "indexFiles of a PHP site must contain index.php");
  }

  for (const log of ["errorlog", "accesslog"]) {
    const block = blocksNamed(body, log)[0];
    if (!block) {
      out.add("V9", 0, `no ${log} block`);
      continue;
    }
    if (block.value === "") out.add("V9", block, `${log} needs the log file's path: "${log} PATH {"`);
    else if (context.exists && !context.exists(dirname(block.value))) {
      out.add("V9", block, `${log} directory ${dirname(block.value)} does not exist (OLS: log file is not writable)`);
    }
    if (firstValue(block, "useServer")?.value !== "0") {
      const effect = log === "accesslog" ? "absent means 2, no access log at all" : "absent means 1, the server's log";
      out.add("V9", block, `${log} needs useServer 0 (${effect})`);
    }
  }

  const scope: HandlerScope = { own: blocksNamed(body, "extprocessor"), server: context.serverApps };
  for (const contextBlock of blocksNamed(body, "context")) {
    const uri = contextBlock.value;
    if (!uri.startsWith("/") && !uri.startsWith("exp:")) out.add("V10", contextBlock, `context URI "${uri}" must start with "/" or "exp:"`);
    const type = lower(firstValue(contextBlock, "type")?.value ?? "null");
    if (!contextTypes.includes(type)) out.add("V10", contextBlock, `context type "${type}" must be one of ${contextTypes.join(", ")}`);
    if (["fcgi", "lsapi", "proxy"].includes(type)) {
      const handler = firstValue(contextBlock, "handler");
      const app = handler ? findApp(scope, handler.value) : undefined;
      if (!handler) out.add("V10", contextBlock, `context ${uri} of type ${type} needs a handler`);
      else if (!app || lower(firstValue(app, "type")?.value ?? "") !== type) {
        out.add("V10", handler, `handler "${handler.value}" names no extprocessor of type ${type}`);
      }
    }
    const location = firstValue(contextBlock, "location");
    if (location && !location.value.startsWith("/") && !location.value.startsWith("$")) {
      out.add("V10", location, `location "${location.value}" is relative and resolves against $DOC_ROOT; make it absolute or $-rooted`);
    }
  }

  for (const vhssl of blocksNamed(body, "vhssl")) {
    for (const key of ["keyFile", "certFile"]) {
      const file = firstValue(vhssl, key);
      if (!file || file.value === "") out.add("V12", vhssl, `vhssl has no ${key}`);
    }
  }

  checkHandlersAndApps(body, scope, out);
}

/** V13 over every path-valued key of a file. */
function checkPaths(root: OlsBlock, out: Findings): void {
  const pathKeys = new Set(["vhroot", "configfile", "docroot", "keyfile", "certfile", "location"]);
  walk(root, (node, parent) => {
    if (node.kind === "include") return;
    const name = lower(node.name);
    // A context's location is V10's; a realm's userDB/groupDB location is a file path like any other.
    // vhRoot and configFile are R2's.
    const ownedElsewhere = (name === "location" && isNamed(parent, "context")) || isNamed(parent, "virtualhost");
    if (node.kind === "statement" && pathKeys.has(name) && node.value !== "" && !ownedElsewhere && !isRootedPath(node.value)) {
      out.add("V13", node, `${node.name} "${node.value}" is relative; OLS resolves it against $SERVER_ROOT`);
    }
    if (node.kind === "block" && (name === "errorlog" || name === "accesslog") && node.value !== "" && !isRootedPath(node.value)) {
      out.add("V13", node, `${node.name} path "${node.value}" is relative; OLS resolves it against $SERVER_ROOT`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Entry points

const standalone = (serverRoot: string): VhostContext => ({ deniedDirs: [], serverRoot, serverApps: [] });

function checkParsed(parsed: ParsedOlsFile, kind: OlsFileKind, context: VhostContext, out: Findings): void {
  checkSyntax(parsed, out);
  checkPaths(parsed.root, out);
  if (kind === "server") {
    checkRegistration(parsed, context.serverRoot, out);
    // Server-level handlers and apps follow the same rules as a vhost's.
    checkHandlersAndApps(parsed.root, { own: blocksNamed(parsed.root, "extprocessor"), server: [] }, out);
    return;
  }
  let body: OlsBlock | undefined = parsed.root;
  if (kind === "vhost") {
    for (const wrapper of parsed.root.children) {
      if (wrapper.kind === "block" && (isNamed(wrapper, "virtualhost") || isNamed(wrapper, "virtualHostConfig"))) {
        out.add(
          "V2",
          wrapper,
          `a vhost file holds top-level statements only; OLS already reads it as <virtualHostConfig>, so "${wrapper.name}" is not unwrapped`,
        );
      }
    }
  } else {
    body = blocksNamed(parsed.root, "virtualHostConfig")[0];
    if (!body) out.add("V2", 0, "a template wraps its vhost part in virtualHostConfig { }");
  }
  if (body) {
    checkVhostBody(body, context, out);
    checkExtProcessorNames(body, out);
  }
}

/** Checks one file on its own: syntax, plus registration (server) or vhost rules (vhost, template). */
export function checkOlsFile(file: OlsFileInput, kind: OlsFileKind, options: OlsCheckOptions = {}): OlsFinding[] {
  const parsed = parseOlsConfig(file.content, file.path);
  const out = new Findings(file.path);
  checkParsed(parsed, kind, standalone(options.serverRoot ?? "/usr/local/lsws"), out);
  return [...parsed.findings, ...out.list];
}

/** The vhosts a deployment must register, and the listeners that must serve each. */
export interface OlsExpectedSite {
  vhost: string;
  domains: string[];
  listeners: string[];
}

export interface OlsDeploymentInput extends OlsCheckOptions {
  /** `$SERVER_ROOT/conf/httpd_config.conf`. */
  server: OlsFileInput;
  /** Every other file it reads (vhost configs, included files), by absolute path on the server. */
  files: readonly OlsFileInput[];
  /** When given, R1 and R5 also check that exactly these sites are registered and mapped. */
  sites?: OlsExpectedSite[];
  /**
   * The host's file system, for the checks CHECKS.md can only make on the target (R2, V1, V9
   * directories, D1 sockets). Leave out to check the text alone.
   * @example (path) => existsSync(path)
   */
  exists?: (path: string) => boolean;
}

/**
 * Checks a server file together with the vhost files it registers: everything `checkOlsFile`
 * does, plus what needs both (handlers that resolve to server-level apps, docRoot against vhRoot
 * and accessDenyDir, vhost-level app names unique across vhosts, expected sites and maps).
 */
export function checkOlsDeployment(input: OlsDeploymentInput): OlsFinding[] {
  const serverRoot = input.serverRoot ?? "/usr/local/lsws";
  const vhostFiles = new Map(input.files.map((file) => [file.path, file]));
  const server = parseOlsConfig(input.server.content, input.server.path, includeResolver(vhostFiles, serverRoot));
  const facts = serverFacts(server);
  const out = new Findings(input.server.path);
  const findings = [...server.findings];
  checkParsed(server, "server", standalone(serverRoot), out);
  const appOwners = new Map<string, string>();

  for (const vhost of facts.virtualHosts) {
    const configFile = firstValue(vhost, "configFile");
    const vhRoot = firstValue(vhost, "vhRoot");
    if (!configFile || !vhRoot) continue;
    const vars = { SERVER_ROOT: serverRoot, VH_NAME: vhost.value };
    if (input.exists && !input.exists(expand(vhRoot.value, vars))) {
      out.add("R2", vhRoot, `vhRoot ${expand(vhRoot.value, vars)} does not exist; OLS drops the vhost with only a WARN`);
    }
    const path = expand(configFile.value, vars);
    const file = vhostFiles.get(path);
    if (!file) {
      out.add("R2", configFile, `configFile ${path} of virtualhost "${vhost.value}" is not among the given files; OLS logs an ERROR and the vhost fails`);
      continue;
    }
    const parsed = parseOlsConfig(file.content, file.path);
    const vhostOut = new Findings(file.path);
    checkParsed(
      parsed,
      "vhost",
      {
        name: vhost.value,
        vhRoot: expand(vhRoot.value, vars),
        restrained: firstValue(vhost, "restrained")?.value === "1",
        deniedDirs: facts.deniedDirs,
        serverRoot,
        serverApps: facts.extProcessors,
        exists: input.exists,
      },
      vhostOut,
    );
    for (const app of blocksNamed(parsed.root, "extprocessor")) {
      const owner = appOwners.get(app.value);
      if (owner !== undefined && owner !== vhost.value) {
        vhostOut.add("R8", app, `extprocessor "${app.value}" is also defined by vhost "${owner}"; prefix vhost-level names with the vhost name`);
      }
      appOwners.set(app.value, vhost.value);
    }
    findings.push(...parsed.findings, ...vhostOut.list);
  }

  if (input.sites) checkExpectedSites(server, input.sites, out);
  if (input.exists) checkSockets(facts.extProcessors, input.exists, out);
  return [...findings, ...out.list];
}

/**
 * `include PATH` as plainconf reads it, over the given files: `$SERVER_ROOT` expanded, a relative
 * path taken from the including file's directory, a directory giving its `*.conf` files sorted,
 * and `* ? [ ]` matched as wordexp would.
 */
function includeResolver(files: ReadonlyMap<string, OlsFileInput>, serverRoot: string): OlsIncludeResolver {
  return (path, fromFile) => {
    const expanded = expand(path, { SERVER_ROOT: serverRoot });
    const absolute = expanded.startsWith("/") ? expanded : join(dirname(fromFile), expanded);
    const exact = files.get(absolute);
    if (exact) return [exact];
    const matches = /[*?[\]]/.test(absolute)
      ? (file: OlsFileInput) => globPattern(absolute).test(file.path)
      : (file: OlsFileInput) => dirname(file.path) === absolute.replace(/\/+$/, "") && file.path.endsWith(".conf");
    return [...files.values()].filter(matches).sort((a, b) => (a.path < b.path ? -1 : 1));
  };
}

function globPattern(glob: string): RegExp {
  const pattern = glob
    .replace(/[.+^${}()|\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${pattern}$`);
}

/** D1: every unix socket an app names is there (its pool runs) before OLS connects to it. */
function checkSockets(apps: OlsBlock[], exists: (path: string) => boolean, out: Findings): void {
  for (const app of apps) {
    const address = firstValue(app, "address");
    const socket = address && udsAddressPattern.test(address.value) ? olsSocketPath(address.value) : undefined;
    if (socket !== undefined && !exists(socket)) {
      out.add("D1", address!, `socket ${socket} of extprocessor "${app.value}" does not exist; is its PHP-FPM pool running?`);
    }
  }
}

/** `uds://run/php/x.sock` → `/run/php/x.sock`, as `GSockAddr::parseURL` reads it. */
export function olsSocketPath(address: string): string {
  return address.slice("uds:/".length);
}

function checkExpectedSites(server: ParsedOlsFile, sites: OlsExpectedSite[], out: Findings): void {
  const vhosts = blocksNamed(server.root, "virtualhost");
  const listeners = blocksNamed(server.root, "listener");
  for (const site of sites) {
    const count = vhosts.filter((vhost) => vhost.value === site.vhost).length;
    if (count !== 1) out.add("R1", 0, `site "${site.vhost}" has ${count} virtualhost blocks; it needs exactly one`);
    for (const listenerName of site.listeners) {
      const listener = listeners.find((block) => block.value === listenerName);
      if (!listener) {
        out.add("R5", 0, `listener "${listenerName}" that should serve "${site.vhost}" does not exist`);
        continue;
      }
      const mapped = new Set(
        statementsNamed(listener, "map")
          .filter((map) => map.value.split(/[ \t]/)[0] === site.vhost)
          .flatMap((map) => map.value.replace(/^\S+/, "").split(",").map(normalizeMappedDomain)),
      );
      for (const domain of site.domains) {
        if (!mapped.has(normalizeMappedDomain(domain))) {
          out.add("R5", listener, `listener "${listenerName}" does not map ${domain} to "${site.vhost}"`);
        }
      }
    }
  }
}

/** One line per finding, as a CLI or a failed test prints them. */
export function formatOlsFinding(finding: OlsFinding): string {
  return `${finding.file}:${finding.line}: ${finding.check} ${finding.message}`;
}
