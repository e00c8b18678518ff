// A Manager creates a CSV export of `sessions` with two columns and a date
// range, watches it reach Completed without reloading, and downloads it.
//
// env: EXPORTER_URL, SCREENSHOT_DIR; optional MANAGER_EMAIL
// (manager@acme.test), COLUMNS (two column names, comma-separated;
// default: the first two the form lists), JOB_TIMEOUT_MS (120000),
// REQUIRE_LIVE=1 (fail unless a status before Completed was seen on the page).
// stdout: {"scenario","ok","jobId","download":"<path>","suggestedFilename","columns":[...]}

import path from 'node:path';
import { scenario, check } from './lib.mjs';

const email = process.env.MANAGER_EMAIL || 'manager@acme.test';
const jobTimeout = Number(process.env.JOB_TIMEOUT_MS || 120000);

await scenario('manager-export', async (s) => {
  const { page } = s;
  await s.signInDemo(email);
  await s.shot('exports-before');

  await s.nav('nav-new', 'New export');
  await page.getByTestId('dataset').selectOption('sessions');
  const columnBoxes = page.locator('[data-testid^="column-"]');
  await columnBoxes.first().waitFor();
  let columns = (process.env.COLUMNS || '').split(',').map((c) => c.trim()).filter(Boolean);
  if (!columns.length) {
    const names = await columnBoxes.evaluateAll((els) => els.map((el) => el.value));
    columns = names.slice(0, 2);
  }
  check(columns.length === 2, `expected two columns, got ${JSON.stringify(columns)}`);
  for (const column of columns) await page.getByTestId(`column-${column}`).check();
  // Put the second column first, with the keyboard-usable "up" button, then back: ordering works both ways.
  await page.getByTestId(`up-${columns[1]}`).click();
  await page.getByTestId(`down-${columns[1]}`).click();
  await page.getByLabel('From (inclusive)').fill('2026-01-01');
  await page.getByLabel('To (inclusive)').fill('2026-01-31');
  await page.getByTestId('format').selectOption('csv');
  await page.getByTestId('format-options').locator('input, select').first().waitFor();
  await s.shot('new-export-filled');
  await page.getByTestId('create-export').click();

  // Back on My exports, the new job is the first row; it must reach
  // Completed through the live stream, with no reload.
  await page.locator('h1', { hasText: 'My exports' }).waitFor();
  const first = page.locator('li.job').first();
  await first.waitFor();
  const jobId = await first.getAttribute('data-job-id');
  const row = page.locator(`li.job[data-job-id="${jobId}"]`);
  await page.evaluate(() => {
    window.__noReload = true;
  });
  await s.shot('job-created');
  const seen = new Set();
  const deadline = Date.now() + jobTimeout;
  for (;;) {
    const status = await row.getAttribute('data-status');
    seen.add(status);
    if (status === 'Completed') break;
    if (status === 'Failed' || status === 'Cancelled') {
      throw new Error(`job ${jobId} ended ${status}: ${await row.locator('.job-error').textContent()}`);
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${status} after ${jobTimeout} ms`);
    await page.waitForTimeout(200);
  }
  check(await page.evaluate(() => window.__noReload === true), 'the page reloaded while waiting');
  // The list is live once the stream has said `ready`; with REQUIRE_LIVE=1
  // (a dataset big enough that the job is seen before it ends) the row must
  // also have changed on the page while it was shown.
  const liveState = (await page.getByTestId('live-state').textContent()).trim();
  check(liveState === 'Live', `the job list is not following the event stream: "${liveState}"`);
  const sawChange = [...seen].some((status) => status !== 'Completed');
  if (process.env.REQUIRE_LIVE === '1') check(sawChange, 'the job was Completed before the page showed it: no live change was seen');
  check((await row.locator('progress').getAttribute('value')) === '100', 'the progress bar of a Completed job is not full');
  await s.shot('job-completed');

  const downloadPromise = page.waitForEvent('download');
  await row.getByTestId('download').click();
  const download = await downloadPromise;
  const file = path.resolve(s.shots, '..', download.suggestedFilename() || `${jobId}.csv`);
  await download.saveAs(file);
  return { jobId, download: file, suggestedFilename: download.suggestedFilename(), columns, statusesSeen: [...seen], liveState };
});
