// A SuperAdmin uploads a plugin component, sees its report, activates it,
// canaries another version to one organization, then rolls back.
//
// env: EXPORTER_URL, SCREENSHOT_DIR, PLUGIN_WASM (path of a .wasm),
// PLUGIN_NAME (the format it implements), CANARY_VERSION (a version of that
// format, already installed, to canary), CANARY_ORG (organization id or
// name, as the canary picker lists it); optional SUPER_EMAIL.
// stdout: {"scenario","ok","installed":{"version","sha256"},"activeAfterRollback":"<version>",...}

import { scenario, check, need } from './lib.mjs';

const email = process.env.SUPER_EMAIL || 'super@exporter.test';
const wasm = need('PLUGIN_WASM');
const name = need('PLUGIN_NAME');
const canaryVersion = need('CANARY_VERSION');
const canaryOrg = need('CANARY_ORG');

await scenario('superadmin-plugins', async (s) => {
  const { page } = s;
  await s.signInDemo(email);
  await s.nav('nav-plugins', 'Plugins');
  await page.getByTestId('upload-submit').waitFor();
  await s.shot('plugins');
  const format = page.getByTestId(`format-${name}`);
  const activeVersion = async () => {
    const active = format.locator('li.version[data-active="true"]');
    return (await active.count()) ? active.first().getAttribute('data-version') : null;
  };
  const before = (await format.count()) ? await activeVersion() : null;

  // Upload without activating: the report first, then the decision.
  await page.getByLabel('Format name').fill(name);
  await page.getByLabel('Component (.wasm)').setInputFiles(wasm);
  await page.getByLabel('Activate when it passes validation').uncheck();
  await s.shot('upload-filled');
  await page.getByTestId('upload-submit').click();
  const outcome = page.getByTestId('upload-outcome');
  await outcome.waitFor({ timeout: Number(process.env.UPLOAD_TIMEOUT_MS || 120000) });
  const report = page.getByTestId('upload-result').getByTestId('report');
  await report.waitFor();
  const steps = await report.locator('ol.steps > li').count();
  check(steps > 0, 'the install report shows no steps');
  const outcomeText = await outcome.textContent();
  check(/^Installed |already installed/.test(outcomeText), `the upload was not installed: ${outcomeText}`);
  await s.shot('uploaded-report');
  const sha256 = await outcome.getAttribute('data-sha256');
  const version = await outcome.getAttribute('data-version');
  check(sha256 && version, 'the upload outcome names no version');
  const card = format.locator(`li.version[data-sha256="${sha256}"]`).first();
  await card.waitFor();
  if ((await card.getAttribute('data-active')) !== 'true') {
    await card.getByTestId('activate').click();
    await page.getByTestId('action-outcome').filter({ hasText: 'done' }).waitFor();
  }
  await format.locator(`li.version[data-sha256="${sha256}"][data-active="true"]`).first().waitFor();
  await s.shot('activated');

  // Canary another version to one organization.
  const canaryCard = format.locator(`li.version[data-version="${canaryVersion}"]`).first();
  // The field takes an organization id; the page suggests known ones by name.
  const picker = canaryCard.getByTestId('canary-org');
  const listed = await page.locator(`datalist#${await picker.getAttribute('list')} option`).evaluateAll(
    (opts, wanted) => (opts.find((o) => o.textContent === wanted) || {}).value, canaryOrg);
  const choice = listed || canaryOrg;
  await picker.fill(choice);
  await canaryCard.getByTestId('canary').click();
  await page.getByTestId('action-outcome').filter({ hasText: 'Canary' }).waitFor();
  await format.locator(`li.version[data-version="${canaryVersion}"]`).getByTestId('end-canary').first().waitFor();
  const gets = await format.getByTestId('who-gets').textContent();
  check(gets.includes(canaryVersion) && gets.includes('canary'), `"who gets which version" does not show the canary: ${gets}`);
  await s.shot('canary');

  // Roll back: the previous version is active for everyone again.
  const rollback = format.getByTestId('rollback');
  await rollback.click();
  await page.getByTestId('action-outcome').filter({ hasText: 'Roll back' }).waitFor();
  await page.waitForFunction(
    ([n, sha]) => {
      const active = document.querySelector(`[data-testid="format-${n}"] li.version[data-active="true"]`);
      return active && active.dataset.sha256 !== sha;
    },
    [name, sha256],
  );
  const after = await activeVersion();
  check(after && after !== version, `after the rollback ${after} is active`);
  await s.shot('rolled-back');
  return { installed: { version, sha256 }, reportSteps: steps, activeBefore: before, activeAfterRollback: after, canary: { version: canaryVersion, organization: choice } };
});
