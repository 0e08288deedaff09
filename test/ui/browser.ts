// Headless Chromium for the web UI's tests: Debian's chromium (installed by scripts/chromium.sh, which
// npm test's pretest runs) driven by playwright-core, with a fresh profile directory per launch. A
// missing browser fails the test with how to install it; it never skips.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = process.env.MESHPEER_CHROMIUM ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps dialing Google's hosts, which this network refuses.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the web UI tests need Debian's chromium. Install it with ` +
        '`bash scripts/chromium.sh` (root, apt-get; npm test runs it first), or set MESHPEER_CHROMIUM.',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'meshpeer-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 800 },
      timeout: 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the locator's text is exactly `want` (trimmed); says what it saw when it is not. */
export async function waitText(locator: Locator, want: string | RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = ((await locator.textContent({ timeout: 1000 }).catch(() => null)) ?? '').trim();
    if (typeof want === 'string' ? last === want : want.test(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `${locator} did not show ${String(want)} in ${timeoutMs} ms; it showed ${JSON.stringify(last)}`,
  );
}

/** Marks the page so that markStillThere can tell it was never reloaded. */
export async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __meshpeerMark: boolean }).__meshpeerMark = true;
  });
}

export async function notReloaded(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __meshpeerMark?: boolean }).__meshpeerMark === true);
}
