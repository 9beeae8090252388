import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { checkOlsDeployment, checkOlsFile, formatOlsFinding, type OlsFileKind } from "./checker/check";

/**
 * CHECKS.md: "All files pass S1–S7, R3, R4, R6, R7, V3, V4 and V6, with three exceptions". The
 * checker must agree with that on every real file, exception for exception, or it is either
 * blind to what it claims to check or flags configs that OLS loads fine.
 */
const referenceDir = fileURLToPath(new URL("reference/", import.meta.url));
const claimed = new Set(["S1", "S2", "S3", "S4", "S5", "S6", "S7", "R3", "R4", "R6", "R7", "V3", "V4", "V6"]);

const referenceFiles: { file: string; kind: OlsFileKind; exceptions: string[] }[] = [
  { file: "RECONSTRUCTED--openlitespeed--installed-httpd_config.conf", kind: "server", exceptions: [] },
  { file: "RECONSTRUCTED--cyberpanel--httpd_config.conf", kind: "server", exceptions: [] },
  { file: "RECONSTRUCTED--ols1clk--httpd_config-appended-fragment.conf", kind: "server", exceptions: [] },
  { file: "ols-docker-env--lsws-conf-httpd_config.conf", kind: "server", exceptions: [] },
  // The unrendered %PLACEHOLDERS% of the stock templates.
  { file: "openlitespeed--dist-conf-httpd_config.conf.in", kind: "server", exceptions: ["R6", "V6"] },
  { file: "openlitespeed--dist-admin-conf-admin_config.conf.in", kind: "server", exceptions: ["R6"] },
  // adminRoot is "Not support"; php70 resolves only through `include phpconfigs/php70.conf`.
  { file: "cyberpanel--install-litespeed-conf-httpd_config.conf", kind: "server", exceptions: ["S3", "V4"] },
  { file: "openlitespeed--dist-conf-vhosts-Example-vhconf.conf", kind: "vhost", exceptions: [] },
  { file: "cyberpanel--dockerManager-vhconf.conf", kind: "vhost", exceptions: [] },
  { file: "RECONSTRUCTED--cyberpanel--conf-vhosts-example.com-vhost.conf", kind: "vhost", exceptions: [] },
  { file: "RECONSTRUCTED--ols1clk--conf-vhosts-wordpress-vhconf.conf", kind: "vhost", exceptions: [] },
  { file: "openlitespeed--dist-conf-templates-ccl.conf", kind: "template", exceptions: [] },
  { file: "openlitespeed--dist-conf-templates-rails.conf", kind: "template", exceptions: [] },
  { file: "ols-docker-env--lsws-conf-templates-docker.conf", kind: "template", exceptions: [] },
  { file: "cyberpanel--install-litespeed-conf-templates-phpsuexec.conf", kind: "template", exceptions: [] },
];

function claimedFindings(file: string, kind: OlsFileKind) {
  const text = readFileSync(`${referenceDir}${file}`, "utf8");
  return checkOlsFile({ path: file, content: text }, kind).filter((finding) => claimed.has(finding.check));
}

describe("real OLS configs", () => {
  test.each(referenceFiles)("$file passes what CHECKS.md says it passes", ({ file, kind, exceptions }) => {
    const findings = claimedFindings(file, kind);
    expect([...new Set(findings.map((finding) => finding.check))].sort()).toEqual([...exceptions].sort());
  });

  test("the stock template's placeholders are what fails R6 and V6", () => {
    const lines = claimedFindings("openlitespeed--dist-conf-httpd_config.conf.in", "server").map(formatOlsFinding);
    expect(lines).toEqual([
      expect.stringMatching(/:221: R6 listener address "\*:%HTTP_PORT%"/),
      expect.stringMatching(/:127: V6 address "uds:\/%DEFAULT_TMP_DIR%\/lsphp.sock"/),
    ]);
  });

  test("CyberPanel's server file fails only on adminRoot and the included php70 handler", () => {
    const lines = claimedFindings("cyberpanel--install-litespeed-conf-httpd_config.conf", "server").map(formatOlsFinding);
    expect(lines).toEqual([
      expect.stringMatching(/:15: S3 key "adminRoot" is not an OLS keyword/),
      expect.stringMatching(/:113: V4 handler "php70" names no extprocessor/),
    ]);
  });

  test("CyberPanel's php70 handler resolves once its include is there to read", () => {
    const file = "cyberpanel--install-litespeed-conf-httpd_config.conf";
    const text = readFileSync(`${referenceDir}${file}`, "utf8");
    const php70 =
      "extprocessor php70 {\n  type                    lsapi\n  address                 uds://tmp/lshttpd/php70.sock\n  autoStart               0\n}\n";
    const v4 = (files: { path: string; content: string }[]) =>
      checkOlsDeployment({ server: { path: "/usr/local/lsws/conf/httpd_config.conf", content: text }, files })
        .filter((finding) => finding.check === "V4")
        .map(formatOlsFinding);
    expect(v4([])).toEqual([expect.stringMatching(/:113: V4 handler "php70" names no extprocessor/)]);
    expect(v4([{ path: "/usr/local/lsws/conf/phpconfigs/php70.conf", content: php70 }])).toEqual([]);
  });

  test("the stock install registers its Example vhost and logs with relative paths (R2, V13)", () => {
    const text = readFileSync(`${referenceDir}RECONSTRUCTED--openlitespeed--installed-httpd_config.conf`, "utf8");
    const checks = checkOlsFile({ path: "stock", content: text }, "server").map((finding) => `${finding.check}:${finding.line}`);
    expect(checks).toEqual(expect.arrayContaining(["V13:23", "V13:30", "R2:209", "R2:217"]));
  });

  test("lsapi apps that OLS spawns itself are not the PHP-FPM wiring V5 asks for", () => {
    const text = readFileSync(`${referenceDir}RECONSTRUCTED--cyberpanel--conf-vhosts-example.com-vhost.conf`, "utf8");
    const v5 = checkOlsFile({ path: "cprv", content: text }, "vhost").filter((finding) => finding.check === "V5");
    expect(v5.map((finding) => finding.line)).toEqual([32, 42, 43]);
  });
});
