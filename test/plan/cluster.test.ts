import { describe, expect, it } from "vitest";
import { addressFrom, derivePassword, fillSecrets, secretPlaceholder, servesOtherHosts } from "../../lib/plan/cluster";
import { planTopology } from "../../lib/plan/topology";
import { Infrastructure } from "../../lib/schema/infrastructure";

const privateIps: Record<string, string> = { "web-1": "10.0.0.2", "mysql-1": "10.0.0.4" };
const privateIp = (host: string) => privateIps[host]!;

describe("cluster-wide values", () => {
  it("reaches a service over loopback on its own host and at its private address from another", () => {
    expect(addressFrom("web-1", "web-1", privateIp)).toBe("127.0.0.1");
    expect(addressFrom("web-1", "mysql-1", privateIp)).toBe("10.0.0.4");
    // Read the other way round it is the address the service sees the client at, which its grants name.
    expect(addressFrom("mysql-1", "web-1", privateIp)).toBe("10.0.0.2");
  });

  it("has MySQL and Redis listen privately only when another host is one of their clients", () => {
    const single = planTopology(Infrastructure.parse({ phase: "single" }));
    const four = planTopology(Infrastructure.parse({ phase: "four-server" }));
    expect(servesOtherHosts(single, single.hosts[0]!, "mysql", 3306)).toBe(false);
    expect(
      servesOtherHosts(
        four,
        four.hosts.find((host) => host.name === "mysql-1")!,
        "mysql",
        3306,
      ),
    ).toBe(true);
  });

  it("derives a different, stable, URL-safe password per purpose", () => {
    const redis = derivePassword("root", "redis");
    expect(redis).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(derivePassword("root", "redis")).toBe(redis);
    expect(derivePassword("root", "mysql:shop.example.com")).not.toBe(redis);
    expect(derivePassword("other root", "redis")).not.toBe(redis);
  });

  it("fills in the declared secrets and refuses a placeholder it has no value for", () => {
    const text = `DB_PASSWORD=${secretPlaceholder({ kind: "database", domain: "a.example.com" })}\nREDIS_PASSWORD=${secretPlaceholder({ kind: "redis" })}\n`;
    // A value is put in as it is, `$` and all.
    expect(
      fillSecrets(
        text,
        new Map([
          ["mysql:a.example.com", "p$1"],
          ["redis", "r"],
        ]),
      ),
    ).toBe("DB_PASSWORD=p$1\nREDIS_PASSWORD=r\n");
    expect(() => fillSecrets(text, new Map([["redis", "r"]]))).toThrow("<secret:mysql:a.example.com> has no value: the step does not declare that secret");
  });
});
