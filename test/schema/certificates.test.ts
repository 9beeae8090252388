import { describe, expect, it } from "vitest";
import { accountEmail, acmeDirectories } from "../../lib/schema/certificates";
import { parseStack } from "../../lib/schema/stack";
import { problems } from "./problems";

const site = { domain: "shop.example.com", tls: { mode: "letsencrypt" } };

describe("the certificates section", () => {
  it("defaults to Let's Encrypt production with no account e-mail", () => {
    expect(parseStack({ sites: [site] }).certificates).toEqual({ acmeDirectory: "https://acme-v02.api.letsencrypt.org/directory" });
  });

  it("names staging and production by their short names", () => {
    expect(parseStack({ certificates: { acmeDirectory: "letsencrypt-staging" } }).certificates.acmeDirectory).toBe(acmeDirectories["letsencrypt-staging"]);
    expect(parseStack({ certificates: { acmeDirectory: "letsencrypt" } }).certificates.acmeDirectory).toBe(acmeDirectories.letsencrypt);
  });

  it("takes any https ACME directory URL, as a local Pebble's", () => {
    expect(parseStack({ certificates: { acmeDirectory: "https://127.0.0.1:14000/dir" } }).certificates.acmeDirectory).toBe("https://127.0.0.1:14000/dir");
  });

  it("rejects a plain http directory, a name it does not know and a URL that would break certbot's config line", () => {
    for (const acmeDirectory of ["http://127.0.0.1:14000/dir", "zerossl", "https://ca.example.com/dir # x"]) {
      expect(problems({ certificates: { acmeDirectory } })).toEqual([
        `certificates.acmeDirectory: ${JSON.stringify(acmeDirectory)} is not an ACME directory (letsencrypt, letsencrypt-staging or an https:// URL)`,
      ]);
    }
  });

  it("rejects an account e-mail that is not one, and an unknown setting", () => {
    expect(problems({ certificates: { email: "ops at example.com", renewDays: 30 } })).toEqual([
      `certificates.email: "ops at example.com" is not an e-mail address`,
      `certificates.renewDays: is not a known setting`,
    ]);
  });

  it("registers with the stack's e-mail, else the first Let's Encrypt site's", () => {
    // Static, so three sites fit the single box beside its monitoring whatever PHP would need.
    const sites = [
      { domain: "a.example.com", kind: "static" },
      { domain: "b.example.com", kind: "static", tls: { mode: "letsencrypt", email: "b@example.com" } },
      { domain: "c.example.com", kind: "static", tls: { mode: "letsencrypt", email: "c@example.com" } },
    ];
    const withSites = parseStack({ sites });
    expect(accountEmail(withSites.certificates, withSites.sites)).toBe("b@example.com");
    const withStack = parseStack({ sites, certificates: { email: "ops@example.com" } });
    expect(accountEmail(withStack.certificates, withStack.sites)).toBe("ops@example.com");
    const none = parseStack({ sites: [site] });
    expect(accountEmail(none.certificates, none.sites)).toBeUndefined();
  });

  it("refuses a wildcard alias on a Let's Encrypt site, which HTTP-01 cannot prove", () => {
    expect(problems({ sites: [{ ...site, aliases: ["www.shop.example.com", "*.shop.example.com"] }] })).toEqual([
      `sites[0].aliases[1]: "*.shop.example.com" is a wildcard, which Let's Encrypt issues only over DNS-01; list the names or use tls mode custom`,
    ]);
    expect(problems({ sites: [{ domain: "shop.example.com", aliases: ["*.shop.example.com"] }] })).toEqual([]);
  });
});
