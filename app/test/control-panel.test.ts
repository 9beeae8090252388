import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeadlessChromium } from "./support/chromium";
import { API_TOKEN, startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "./support/orchestrator";

let backends: Backends;
let orchestrator: RunningOrchestrator;
let browser: HeadlessChromium;
let page: Page;

beforeAll(async () => {
  backends = await startBackends();
  orchestrator = await startOrchestrator(backends, { worker: true, env: { MEGAWEB_HYPERGRID_TILE_SIZE: "100" } });
  browser = await HeadlessChromium.launch();
  page = browser.page;
  await page.goto(orchestrator.baseUrl + "/");
});
afterAll(async () => {
  await browser?.close();
  await orchestrator?.stop();
  await backends?.stop();
});

const metric = (name: string) => page.locator(`[data-metric="${name}"]`);

describe("control panel", () => {
  it("shows health and metrics on load", async () => {
    await expect.poll(() => page.locator("#health").getAttribute("data-status")).toBe("healthy");
    await expect.poll(() => metric("total_sessions").textContent()).toBe("0");
  });

  it("refuses a change without the token and says why", async () => {
    await page.fill("#create-form input[name=url]", "https://example.com");
    await page.click("#create-form button");
    await expect.poll(() => page.locator("#message").textContent()).toContain("Bearer");
  });

  it("creates a session and bulk-embeds URLs, and both show in the event feed", async () => {
    await page.fill("#token", API_TOKEN);
    await page.dispatchEvent("#token", "change");
    await page.fill("#create-form input[name=replicas]", "3");
    await page.click("#create-form button");
    await expect.poll(() => page.locator("#message").textContent()).toMatch(/^created session [0-9a-f-]{36}$/);
    await page.fill("#bulk-form textarea", "https://site1.com\nhttps://site2.com\nhttps://site3.com");
    await page.click("#bulk-form button");
    await expect.poll(() => page.locator("#message").textContent()).toBe("embedded 3 URLs with 3 replicas");
    await expect.poll(() => page.locator("#events .type").allTextContents()).toEqual(expect.arrayContaining(["session.created", "session.bulk_created"]));
  });

  it("shows replicas a runner reports running, their transitions, and the proxies' figures", async () => {
    await orchestrator.api("/api/proxies", { method: "POST", body: { host: "127.0.0.1", port: 9, protocol: "https" } });
    const replicas = (await orchestrator.api("/api/replicas?status=pending&limit=3")).body as { id: string }[];
    const beat = await orchestrator.api("/api/replicas/heartbeats", {
      method: "POST",
      body: { heartbeats: replicas.map((replica) => ({ replica_id: replica.id, status: "running" })) },
    });
    expect(beat.body.transitions).toBe(3);
    await expect.poll(() => page.locator("#events .type").allTextContents(), { timeout: 15_000 }).toContain("replica.status.changed");
    await expect.poll(() => metric("active_replicas").textContent(), { timeout: 15_000 }).toBe("3");
    await expect.poll(() => page.locator("#proxies tbody tr").first().textContent()).toContain("https://127.0.0.1:9");
  });

  it("scales to N sessions with a progress bar and draws the live hypergrid", async () => {
    await page.fill("#scale-form input[name=target]", "20000");
    await page.click("#scale-form button");
    await expect.poll(() => page.locator("#message").textContent(), { timeout: 120_000 }).toBe("scaled to 20,000 sessions");
    expect(await page.locator("#scale-progress").evaluate((bar) => (bar as unknown as { value: number }).value)).toBe(100);
    await expect.poll(() => page.locator("#grid-summary").textContent(), { timeout: 15_000 }).toMatch(/^20,000 sessions in \d+ tiles of 100$/);
    // At least 200 tiles: bulk loads reserve seq values ahead and leave some unused, so a tile may hold fewer than 100.
    expect(await page.locator("#hypergrid .tile").count()).toBeGreaterThanOrEqual(200);
    await expect.poll(() => metric("total_sessions").textContent(), { timeout: 15_000 }).toBe("20,000");
    expect(await page.locator("#hypergrid .tile").first().getAttribute("data-status")).toBe("active");
    console.log(`control panel screenshot: ${await browser.screenshot("orchestrator-panel.png")}`);
  }, 180_000);

  it("clears everything after a second click", async () => {
    await page.click("#clear-button");
    await expect.poll(() => page.locator("#clear-button").textContent()).toBe("Click again to delete everything");
    await page.click("#clear-button");
    await expect.poll(() => page.locator("#message").textContent(), { timeout: 60_000 }).toBe("cleared 20,000 sessions");
    await expect.poll(() => metric("total_sessions").textContent(), { timeout: 15_000 }).toBe("0");
  }, 120_000);
});
