import { describe, expect, it } from "vitest";
import { formatProblem } from "../../lib/schema/errors";
import { plaintextReceiverCredentials } from "../../lib/schema/monitoring";
import { parseStack } from "../../lib/schema/stack";
import { problems } from "./problems";

const monitoring = (value: unknown) => ({ monitoring: value });

describe("monitoring settings", () => {
  it("default to the MARG guide's warnings with critical levels above them", () => {
    expect(parseStack({}).monitoring).toEqual({
      enabled: true,
      thresholds: {
        cpu: { warning: 80, critical: 95 },
        memory: { warning: 90, critical: 95 },
        disk: { warning: 85, critical: 95 },
        errorRate: { warning: 5, critical: 20 },
        replicationLagSeconds: { warning: 30, critical: 300 },
        certificateDays: { warning: 14, critical: 3 },
      },
      windows: {
        scrapeInterval: "30s",
        evaluationInterval: "30s",
        rateWindow: "5m",
        resources: "10m",
        services: "1m",
        replication: "2m",
        errors: "5m",
        certificates: "10m",
      },
      notifications: { groupWait: "30s", groupInterval: "5m", repeatInterval: "4h" },
      receivers: { webhooks: [] },
      retention: "15d",
    });
  });

  it("keep the defaults of the levels a stack file leaves out", () => {
    expect(parseStack(monitoring({ thresholds: { disk: { warning: 75 } } })).monitoring.thresholds.disk).toEqual({ warning: 75, critical: 95 });
  });

  it("take an e-mail relay with a login and webhooks", () => {
    const parsed = parseStack(
      monitoring({
        receivers: {
          email: { to: ["ops@example.com"], from: "alerts@example.com", smarthost: "smtp.example.com:587", username: "alerts", password: { secure: "v1:abc" } },
          webhooks: [{ url: "https://hooks.example.com/megaweb", bearerToken: { secure: "v1:def" } }],
        },
      }),
    ).monitoring.receivers;
    expect(parsed.email).toMatchObject({ requireTls: true, username: "alerts", password: { secure: "v1:abc" } });
    expect(parsed.webhooks).toEqual([{ url: "https://hooks.example.com/megaweb", bearerToken: { secure: "v1:def" } }]);
  });
});

describe("bad monitoring settings are refused with the field and the rule", () => {
  it("rejects a warning level at or above the critical one", () => {
    expect(problems(monitoring({ thresholds: { cpu: { warning: 96 } } }))).toEqual(["monitoring.thresholds.cpu: warning (96) must be below critical (95)"]);
  });

  it.each([0, 120])("rejects a disk threshold of %s %%", (warning) => {
    expect(problems(monitoring({ thresholds: { disk: { warning } } }))).toEqual([
      `monitoring.thresholds.disk.warning: ${warning} is not a percentage above 0 and at most 100`,
    ]);
  });

  it("rejects a threshold written as text", () => {
    expect(problems(monitoring({ thresholds: { memory: { warning: "80%" } } }))).toEqual([
      'monitoring.thresholds.memory.warning: must be a number (got string "80%")',
    ]);
  });

  it("rejects a critical certificate level with more days than the warning", () => {
    expect(problems(monitoring({ thresholds: { certificateDays: { critical: 20 } } }))).toEqual([
      "monitoring.thresholds.certificateDays: critical (20) must be fewer days than warning (14)",
    ]);
  });

  it("rejects a rate window shorter than two scrapes", () => {
    expect(problems(monitoring({ windows: { scrapeInterval: "1m", rateWindow: "90s" } }))).toEqual([
      'monitoring.windows.rateWindow: "90s" must be at least twice scrapeInterval ("1m"), or rates have too few samples',
    ]);
  });

  it("rejects a window that is not a duration", () => {
    expect(problems(monitoring({ windows: { services: "1 minute" } }))).toEqual([
      'monitoring.windows.services: "1 minute" is not a duration (a number and s, m, h or d, like 30d)',
    ]);
  });

  it("rejects a relay without a port and an address without a domain", () => {
    expect(problems(monitoring({ receivers: { email: { to: ["ops"], from: "alerts@example.com", smarthost: "smtp.example.com" } } }))).toEqual([
      'monitoring.receivers.email.to[0]: "ops" is not an e-mail address',
      'monitoring.receivers.email.smarthost: "smtp.example.com" is not host:port (like smtp.example.com:587)',
    ]);
  });

  it("rejects a relay user without a password", () => {
    expect(
      problems(monitoring({ receivers: { email: { to: ["ops@example.com"], from: "alerts@example.com", smarthost: "smtp.example.com:587", username: "u" } } })),
    ).toEqual(["monitoring.receivers.email: username and password go together: a relay login needs both"]);
  });

  it("rejects a webhook that is not http(s) or carries a password in its URL", () => {
    expect(problems(monitoring({ receivers: { webhooks: [{ url: "ftp://hooks.example.com" }, { url: "https://user:secret@hooks.example.com/a" }] } }))).toEqual(
      [
        'monitoring.receivers.webhooks[0].url: "ftp://hooks.example.com" is not an http or https URL',
        "monitoring.receivers.webhooks[1].url: must not hold a user or password; put the credential in bearerToken",
      ],
    );
  });

  it("rejects an unknown key and a retention that is not a duration", () => {
    expect(problems(monitoring({ retention: "forever", cpu: 80 }))).toEqual([
      'monitoring.retention: "forever" is not a duration (a number and s, m, h or d, like 30d)',
      "monitoring.cpu: is not a known setting",
    ]);
  });

  it("takes receiver credentials in the program only when Pulumi holds the monitoring key as a secret", () => {
    const receivers = {
      email: { to: ["ops@example.com"], from: "alerts@example.com", smarthost: "smtp.example.com:587", username: "alerts", password: "relay-pass" },
      webhooks: [{ url: "https://hooks.example.com/a" }, { url: "https://hooks.example.com/b", bearerToken: "hook-token" }],
    };
    const decrypted = parseStack(monitoring({ receivers })).monitoring;
    expect(plaintextReceiverCredentials(decrypted, false).map(formatProblem)).toEqual([
      "monitoring.receivers.email.password: is in plain text; store it with pulumi config set --secret --path 'monitoring.receivers.email.password'",
      "monitoring.receivers.webhooks[1].bearerToken: is in plain text; store it with pulumi config set --secret --path 'monitoring.receivers.webhooks[1].bearerToken'",
    ]);
    expect(plaintextReceiverCredentials(decrypted, true)).toEqual([]);
  });
});
