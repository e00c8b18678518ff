// The API's refusal (problem+json 422) appears next to the field it
// concerns: a date range whose end is before its start is refused, the
// message shows beside the dates and marks the field invalid, and no job is
// created; corrected, the same form creates the export.
//
// env: EXPORTER_URL, SCREENSHOT_DIR; optional MANAGER_EMAIL.
// stdout: {"scenario","ok","dateError":"..."}

import { scenario, check } from './lib.mjs';

const email = process.env.MANAGER_EMAIL || 'manager@acme.test';

await scenario('form-errors', async (s) => {
  const { page } = s;
  await s.signInDemo(email);
  await s.nav('nav-new', 'New export');
  await page.getByTestId('dataset').selectOption('sessions');
  await page.getByTestId('format').selectOption('csv');
  await page.getByTestId('format-options').locator('input, select').first().waitFor();

  // The end before the start: the date field says so, beside itself.
  const from = page.getByLabel('From (inclusive)');
  const to = page.getByLabel('To (inclusive)');
  await from.fill('2026-02-01');
  await to.fill('2026-01-01');
  await page.getByTestId('create-export').click();
  const dateError = page.locator('.field:has(input[type="date"]) .field-error:not([hidden])').first();
  await dateError.waitFor();
  const dateText = (await dateError.textContent()).trim();
  check(/date range ends before it starts/.test(dateText), `the date error is not the API's: "${dateText}"`);
  check(
    (await page.locator('input[type="date"][aria-invalid="true"]').count()) === 1,
    'exactly one date field is marked invalid',
  );
  await s.shot('date-range-refused');

  // Corrected, the same form creates the export.
  await to.fill('2026-02-28');
  await page.getByTestId('create-export').click();
  await page.locator('h1', { hasText: 'My exports' }).waitFor();
  await s.shot('corrected');
  return { dateError: dateText };
});
