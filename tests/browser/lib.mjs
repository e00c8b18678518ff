// What every scenario shares: the system Chromium, screenshots of every
// page, signing in through the page, and one way to fail.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** An env variable the scenario cannot run without. */
export function need(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is required`);
  return value;
}

export function fail(message) {
  process.stderr.write(`FAIL: ${message}\n`);
  process.exit(1);
}

/**
 * Starts the scenario: a browser, a context, a page; console errors and CSP
 * violations are collected (a violation fails the scenario at the end).
 * `run(s)` does the work; its return value is printed as one JSON line.
 */
export async function scenario(name, run) {
  // VIEWPORT=375x812 runs the scenario at a phone's width.
  const [width, height] = (process.env.VIEWPORT || '1280x900').split('x').map(Number);
  const viewport = { width, height };
  const base = need('EXPORTER_URL').replace(/\/$/, '');
  const shots = need('SCREENSHOT_DIR');
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.STEP_TIMEOUT_MS || 15000));
  const problems = [];
  const dialogs = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  let n = 0;
  const s = {
    base,
    page,
    context,
    dialogs,
    problems,
    shots,
    url: (p) => `${base}${p}`,
    /** Saves SCREENSHOT_DIR/<scenario>-<nn>-<label>.png. */
    async shot(label, { fullPage = true } = {}) {
      n += 1;
      const file = path.join(shots, `${name}-${String(n).padStart(2, '0')}-${label}.png`);
      await page.screenshot({ path: file, fullPage });
      // At a phone's width nothing may need scrolling sideways.
      if (width <= 480) {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > width) throw new Error(`the ${label} page is ${wide} px wide at a ${width} px viewport`);
      }
      return file;
    },
    /** Signs in by clicking a demo account on the sign-in page. */
    async signInDemo(email) {
      await page.goto(`${base}/#/sign-in`);
      const button = page.getByTestId(`demo-${email}`);
      await button.waitFor();
      await s.shot('sign-in');
      await button.click();
      await page.getByTestId('signed-in-as').waitFor();
      await page.locator('h1', { hasText: 'My exports' }).waitFor();
    },
    /** Clicks a navigation link (as a user would) and waits for the page's heading. */
    async nav(testid, heading) {
      await page.getByTestId(testid).click();
      await page.locator('h1', { hasText: heading }).waitFor();
    },
  };
  let result;
  try {
    result = await run(s);
    if (problems.length) throw new Error(`the page reported errors:\n  ${problems.join('\n  ')}`);
  } catch (error) {
    try {
      await s.shot('failure');
    } catch {
      // The page may be gone; the message matters more.
    }
    await browser.close();
    fail(`${name}: ${error.message}`);
  }
  await browser.close();
  process.stdout.write(`${JSON.stringify({ scenario: name, ok: true, ...result })}\n`);
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}
