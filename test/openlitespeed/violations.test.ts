import { describe, expect, test } from "vitest";
import { checkOlsDeployment, formatOlsFinding, type OlsExpectedSite } from "./checker/check";

/**
 * A deployment that passes every check, then one mistake at a time: each must be caught by
 * exactly the check CHECKS.md assigns it to, and by nothing else.
 */
const serverPath = "/usr/local/lsws/conf/httpd_config.conf";
const vhostPath = "/usr/local/lsws/conf/vhosts/example.com/vhconf.conf";

const goodServer = `user                      nobody
group                     nogroup

accessDenyDir  {
  dir                     /
  dir                     /etc/*
  dir                     $SERVER_ROOT/conf/*
}

extprocessor example.com_fpm {
  type                    fcgi
  address                 uds://run/php/example_com.sock
  maxConns                10
  initTimeout             60
  retryTimeout            0
  persistConn             1
  respBuffer              0
  autoStart               0
}

virtualhost example.com {
  vhRoot                  /var/www/example_com
  configFile              $SERVER_ROOT/conf/vhosts/$VH_NAME/vhconf.conf
  allowSymbolLink         0
  enableScript            1
  restrained              1
  setUIDMode              0
}

listener backend {
  address                 127.0.0.1:8088
  secure                  0
  map                     example.com example.com, www.example.com
}
`;

const goodVhost = `docRoot                   $VH_ROOT/public
vhDomain                  example.com
vhAliases                 www.example.com

index  {
  useServer               0
  indexFiles              index.php, index.html
  autoIndex               0
}

errorlog /var/log/ols/example.com.error.log {
  useServer               0
  logLevel                WARN
}

accesslog /var/log/ols/example.com.access.log {
  useServer               0
}

scripthandler  {
  add                     fcgi:example.com_fpm php
}

context / {
  location                $DOC_ROOT/
  allowBrowse             1
}

rewrite  {
  enable                  1
  autoLoadHtaccess        0
  rules                   <<<END_rules
RewriteRule ^/old$ /new [R=301,L]
  END_rules
}
`;

const sites: OlsExpectedSite[] = [{ vhost: "example.com", domains: ["example.com", "www.example.com"], listeners: ["backend"] }];

function check(server: string, vhost: string) {
  return checkOlsDeployment({
    server: { path: serverPath, content: server },
    files: [{ path: vhostPath, content: vhost }],
    sites,
  });
}

/** The checks each mistake must trip: the one it breaks first, then those OLS would also trip over. */
type Mistake = [description: string, file: "server" | "vhost", change: (text: string) => string, checks: string[]];

const replace = (from: string | RegExp, to: string) => (text: string) => {
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`mutation did not apply: ${from}`);
  return changed;
};

const mistakes: Mistake[] = [
  ["an extra closing brace", "vhost", (text) => `${text}}\n`, ["S1"]],
  ["a block never closed", "server", replace(/listener backend \{([\s\S]*)\}\n$/, "listener backend {$1"), ["S1"]],
  ["a one-line block", "vhost", replace(/index {2}\{[\s\S]*?\n\}/, "index { useServer 0 }"), ["S2", "V8"]],
  ["text after a closing brace", "vhost", replace("  allowBrowse             1\n}", "  allowBrowse             1\n} rewrite"), ["S2", "S7"]],
  ["semicolons as separators", "server", replace("  maxConns                10\n", "  maxConns                10;\n"), ["S2", "S8"]],
  ["an unknown key", "server", replace("user  ", "adminRoot /x\nuser  "), ["S3"]],
  ["an unknown block name", "vhost", replace("context / {", "contxt / {"), ["S3"]],
  ["a trailing comment", "server", replace("  maxConns                10\n", "  maxConns                10 # per site\n"), ["S4", "S8"]],
  ["a stray <<< inside a value", "vhost", replace("rules                   <<<END_rules", "rules                   RewriteRule <<<END_rules"), ["S4"]],
  ["a heredoc never closed", "vhost", replace("  END_rules\n", ""), ["S5", "S1"]],
  ["a heredoc tag of two words", "vhost", replace("<<<END_rules", "<<<END rules"), ["S5"]],
  ["a line over 8191 bytes", "vhost", replace("vhDomain                  example.com", `vhDomain                  ${"a".repeat(8200)}`), ["S6"]],
  ["a continuation backslash", "vhost", replace("vhAliases                 www.example.com", "vhAliases                 www.example.com \\"), ["S6"]],
  ["a single-valued key twice", "server", replace("  autoStart               0\n", "  autoStart               0\n  autoStart               1\n"), ["S7"]],
  ["a number with a bad suffix", "server", replace("  maxConns                10\n", "  maxConns                10X\n"), ["S8"]],
  ["a listener secure flag of 2", "server", replace("  secure                  0\n", "  secure                  2\n"), ["S8"]],
  [
    "the same vhost twice",
    "server",
    (text) =>
      `${text}\nvirtualhost example.com {\n  vhRoot                  /var/www/other\n  configFile              $SERVER_ROOT/conf/vhosts/$VH_NAME/vhconf.conf\n}\n`,
    ["R1"],
  ],
  ["a vhost name with a comma", "server", replace(/example\.com/g, "example,com"), ["R1", "R2", "R5"]],
  ["a relative vhRoot", "server", replace("/var/www/example_com", "var/www/example_com"), ["R2"]],
  ["a configFile outside conf/vhosts", "server", replace("$SERVER_ROOT/conf/vhosts/$VH_NAME/vhconf.conf", "/etc/vhconf.conf"), ["R2"]],
  ["enableScript 0", "server", replace("enableScript            1", "enableScript            0"), ["R3"]],
  ["restrained 3", "server", replace("restrained              1", "restrained              3"), ["R3"]],
  ["a map to a vhost name in the wrong case", "server", replace("map                     example.com", "map                     Example.com"), ["R4", "R5"]],
  [
    "a map without domains",
    "server",
    replace("map                     example.com example.com, www.example.com", "map                     example.com"),
    ["R4", "R5"],
  ],
  [
    "a domain mapped to two vhosts",
    "server",
    replace(
      "  map                     example.com example.com, www.example.com\n",
      "  map                     example.com example.com, www.example.com\n  map                     other example.com\n",
    ),
    ["R4", "R5"],
  ],
  // OLS strips a leading www. from maps, so mapping only www.example.com would still serve example.com.
  ["a site not mapped on its listener", "server", replace("example.com, www.example.com", "example.org"), ["R5"]],
  ["a listener port out of range", "server", replace("127.0.0.1:8088", "127.0.0.1:70000"), ["R6"]],
  [
    "two listeners on one address",
    "server",
    (text) => `${text}\nlistener again {\n  address                 127.0.0.1:8088\n  secure                  0\n}\n`,
    ["R6"],
  ],
  [
    "a secure listener without a key",
    "server",
    replace("  secure                  0\n", "  secure                  1\n  certFile                /etc/ssl/x.pem\n"),
    ["R7"],
  ],
  [
    "the same app name twice",
    "server",
    (text) =>
      `${text}\nextprocessor example.com_fpm {\n  type                    fcgi\n  address                 127.0.0.1:9000\n  autoStart               0\n}\n`,
    ["R8"],
  ],
  ["docRoot missing", "vhost", replace("docRoot                   $VH_ROOT/public\n", ""), ["V1"]],
  ["docRoot outside a restrained vhRoot", "vhost", replace("$VH_ROOT/public", "/srv/public"), ["V1"]],
  ["the file wrapped in virtualHostConfig", "vhost", (text) => `virtualHostConfig  {\n${text}}\n`, ["V2", "V1", "V8", "V9"]],
  ["a handler with a dotted suffix", "vhost", replace("fcgi:example.com_fpm php", "fcgi:example.com_fpm .php"), ["V3"]],
  ["a handler type that does not exist", "vhost", replace("fcgi:example.com_fpm php", "fpm:example.com_fpm php"), ["V3"]],
  ["a handler name in the wrong case", "vhost", replace("fcgi:example.com_fpm php", "fcgi:Example.com_fpm php"), ["V4"]],
  ["a handler type that differs from the app's", "vhost", replace("fcgi:example.com_fpm php", "lsapi:example.com_fpm php"), ["V4"]],
  ["autoStart left out", "server", replace("  autoStart               0\n", ""), ["V5"]],
  [
    "a path on an FPM app",
    "server",
    replace("  autoStart               0\n", "  autoStart               0\n  path                    /usr/sbin/php-fpm8.2\n"),
    ["V5"],
  ],
  ["a uds address with one slash", "server", replace("uds://run/php/example_com.sock", "uds:/run/php/example_com.sock"), ["V6"]],
  ["a bare socket path", "server", replace("uds://run/php/example_com.sock", "/run/php/example_com.sock"), ["V6"]],
  ["maxConns over 10000", "server", replace("  maxConns                10\n", "  maxConns                20000\n"), ["V7"]],
  [
    "an env line without =",
    "server",
    replace("  autoStart               0\n", "  autoStart               0\n  env                     PHP_FCGI_CHILDREN\n"),
    ["V7"],
  ],
  ["the server's index list", "vhost", replace("  useServer               0\n  indexFiles", "  useServer               1\n  indexFiles"), ["V8"]],
  ["no index.php on a PHP site", "vhost", replace("index.php, index.html", "index.html"), ["V8"]],
  [
    "an access log without useServer",
    "vhost",
    replace("accesslog /var/log/ols/example.com.access.log {\n  useServer               0\n", "accesslog /var/log/ols/example.com.access.log {\n"),
    ["V9"],
  ],
  ["a context URI without a slash", "vhost", replace("context / {", "context docs {"), ["V10"]],
  [
    "a proxy context without a handler",
    "vhost",
    replace("  allowBrowse             1\n", "  allowBrowse             1\n  type                    proxy\n"),
    ["V10"],
  ],
  ["a rewrite log level of 10", "vhost", replace("  autoLoadHtaccess        0\n", "  autoLoadHtaccess        0\n  logLevel                10\n"), ["V11"]],
  ["vhssl without certFile", "vhost", (text) => `${text}\nvhssl  {\n  keyFile                 /etc/ssl/x.key\n}\n`, ["V12"]],
  ["a relative log path", "vhost", replace("errorlog /var/log/ols/", "errorlog logs/"), ["V13"]],
  ["a docRoot under an accessDenyDir", "server", replace("/var/www/example_com", "/etc/example_com"), ["V14"]],
];

describe("OLS checker", () => {
  test("passes the well-formed deployment", () => {
    expect(check(goodServer, goodVhost).map(formatOlsFinding)).toEqual([]);
  });

  test.each(mistakes)("catches %s", (_description, file, change, expected) => {
    const findings = file === "server" ? check(change(goodServer), goodVhost) : check(goodServer, change(goodVhost));
    expect([...new Set(findings.map((finding) => finding.check))], findings.map(formatOlsFinding).join("\n")).toEqual(expected);
  });

  test("a vhost file that is not among the files fails R2", () => {
    const findings = checkOlsDeployment({ server: { path: serverPath, content: goodServer }, files: [] });
    expect(findings.map(formatOlsFinding)).toEqual([
      `${serverPath}:23: R2 configFile ${vhostPath} of virtualhost "example.com" is not among the given files; OLS logs an ERROR and the vhost fails`,
    ]);
  });

  test("follows include lines: a registration split into included files passes, maps included inside the listener", () => {
    const registration = goodServer.slice(goodServer.indexOf("extprocessor"), goodServer.indexOf("listener backend"));
    const server = `${goodServer.slice(0, goodServer.indexOf("extprocessor"))}include $SERVER_ROOT/conf/sites\n\nlistener backend {\n  address                 127.0.0.1:8088\n  secure                  0\n  include                 maps/*.conf\n}\n`;
    const findings = checkOlsDeployment({
      server: { path: serverPath, content: server },
      files: [
        { path: vhostPath, content: goodVhost },
        { path: "/usr/local/lsws/conf/sites/example.com.conf", content: registration },
        { path: "/usr/local/lsws/conf/maps/example.com.conf", content: "map                     example.com example.com, www.example.com\n" },
      ],
      sites,
    });
    expect(findings.map(formatOlsFinding)).toEqual([]);
  });

  test("an included file is checked as itself: its findings name it, and it must balance its own braces", () => {
    const server = `${goodServer}include /usr/local/lsws/conf/extra.conf\n`;
    const findings = checkOlsDeployment({
      server: { path: serverPath, content: server },
      files: [
        { path: vhostPath, content: goodVhost },
        { path: "/usr/local/lsws/conf/extra.conf", content: "tuning  {\n  maxConns 10 # why\n" },
      ],
      sites,
    });
    expect(findings.map(formatOlsFinding)).toEqual([
      '/usr/local/lsws/conf/extra.conf:1: S1 block "tuning" is never closed in this included file',
      '/usr/local/lsws/conf/extra.conf:2: S4 "maxConns 10 # why" has a trailing comment; OLS keeps it as part of the value',
    ]);
  });

  test("an unknown block name is reported with the block it breaks", () => {
    const findings = check(goodServer, goodVhost.replace("index  {", "indexes  {"));
    expect(findings.map(formatOlsFinding)).toEqual([
      `${vhostPath}:5: S3 block name "indexes" is not an OLS keyword; OLS drops the line, reads the body into the top level, and its "}" closes the top level`,
      `${vhostPath}:0: V8 no index block; the server's list (index.html, index.php) would be used`,
    ]);
  });
});
