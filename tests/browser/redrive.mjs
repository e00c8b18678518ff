// A SuperAdmin opens the Queue, finds a dead letter with its error
// history, clicks Re-drive and sees the job complete.
//
// env: EXPORTER_URL, SCREENSHOT_DIR, DEAD_JOB_ID; optional SUPER_EMAIL,
// JOB_TIMEOUT_MS (120000).
// stdout: {"scenario","ok","jobId","errorHistory":n,"finalStatus":"Completed"}

import { scenario, check, need } from './lib.mjs';

const email = process.env.SUPER_EMAIL || 'super@exporter.test';
const jobId = need('DEAD_JOB_ID');
const jobTimeout = Number(process.env.JOB_TIMEOUT_MS || 120000);

await scenario('redrive', async (s) => {
  const { page } = s;
  await s.signInDemo(email);
  await s.nav('nav-queue', 'Queue');
  const card = page.getByTestId(`dead-${jobId}`);
  await card.waitFor();
  const history = card.getByTestId('error-history').locator('li');
  const attempts = await history.count();
  check(attempts > 0, `dead letter ${jobId} shows no error history`);
  const lastError = (await history.last().locator('.detail').textContent()).trim();
  check(lastError.length > 0, 'the last attempt shows no error');
  await s.shot('queue');

  await card.getByTestId('redrive').click();
  const status = card.getByTestId('redrive-status');
  const deadline = Date.now() + jobTimeout;
  let final = null;
  for (;;) {
    final = await status.getAttribute('data-status');
    if (final === 'Completed') break;
    if (final === 'Failed' || final === 'Cancelled') throw new Error(`the re-driven job ended ${final}: ${await status.textContent()}`);
    if (Date.now() > deadline) throw new Error(`the re-driven job is still ${final} after ${jobTimeout} ms`);
    await page.waitForTimeout(200);
  }
  await s.shot('redriven');
  return { jobId, errorHistory: attempts, lastError, finalStatus: final };
});
