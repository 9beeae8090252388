import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** The screenshots people look at instead of reading the tests: test-output/ at the repository's root. */
export const screenshotDirectory = path.resolve(__dirname, "../../../test-output");

/** Debian's Chromium, headless, with a fresh profile and nothing talking to the internet on its own. */
export class HeadlessChromium {
  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    private readonly profile: string,
  ) {}

  static async launch(viewport = { width: 1400, height: 1000 }): Promise<HeadlessChromium> {
    const profile = mkdtempSync(path.join(os.tmpdir(), "megaweb-chromium-"));
    // launchPersistentContext because Playwright takes the fresh profile directory itself, not as --user-data-dir.
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      viewport,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return new HeadlessChromium(context, page, profile);
  }

  /** The whole page as test-output/`name`; returns the file's path. */
  async screenshot(name: string, page: Page = this.page): Promise<string> {
    const file = path.join(screenshotDirectory, name);
    mkdirSync(screenshotDirectory, { recursive: true });
    // A full page of charts through an SSH tunnel on a loaded host took past playwright's 30 s in CI.
    await page.screenshot({ path: file, fullPage: true, timeout: 120_000 });
    return file;
  }

  async close(): Promise<void> {
    await this.context.close();
    rmSync(this.profile, { recursive: true, force: true });
  }
}
