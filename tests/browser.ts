// A real headless browser for the live view's tests: Debian's Chromium (testbed/install-deps.sh installs it), driven
// by playwright-core, which downloads no browser of its own.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.LVS_LAB_CHROMIUM ?? '/usr/bin/chromium';

/** A page open at `url`, and the browser's close. */
export async function openPage(url: string): Promise<{ page: Page; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: bash testbed/install-deps.sh installs Debian's (or set LVS_LAB_CHROMIUM)`,
    );
  // As root (CI) Chromium refuses its sandbox; the page is the kit's own, served from loopback.
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  await page.goto(url);
  return { page, close: () => browser.close() };
}

/** The text of `selector` on `page` once `ok` accepts it, within `seconds`; fails with the last text seen. */
export async function untilText(
  page: Page,
  selector: string,
  ok: (text: string) => boolean,
  seconds = 30,
): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    last =
      (await page
        .locator(selector)
        .first()
        .textContent()
        .catch(() => null)) ?? '';
    if (ok(last)) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`${selector}: not as expected within ${seconds} s; it shows ${JSON.stringify(last)}`);
}
