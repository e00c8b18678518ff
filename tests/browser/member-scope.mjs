// A Member sees no admin links, an admin route shows the operator-only
// message, and no other user's job appears on My exports.
//
// env: EXPORTER_URL, SCREENSHOT_DIR, FOREIGN_JOB_ID (a job the Member must
// not see); optional MEMBER_EMAIL (member@acme.test).
// stdout: {"scenario","ok","adminRoutesRefused":[...],"jobsShown":n}

import { scenario, check, need } from './lib.mjs';

const email = process.env.MEMBER_EMAIL || 'member@acme.test';
const foreign = need('FOREIGN_JOB_ID');

await scenario('member-scope', async (s) => {
  const { page } = s;
  await s.signInDemo(email);
  // The list has settled when either rows or a message is shown.
  await page.locator('li.job, .note').first().waitFor();
  await s.shot('my-exports');

  for (const testid of ['nav-plugins', 'nav-queue', 'nav-health']) {
    check((await page.getByTestId(testid).count()) === 0, `a Member sees the admin link ${testid}`);
  }
  const navText = await page.locator('#nav').textContent();
  for (const word of ['Plugins', 'Queue', 'Health']) check(!navText.includes(word), `the navigation shows "${word}" to a Member`);

  const jobIds = await page.locator('li.job').evaluateAll((els) => els.map((el) => el.dataset.jobId));
  check(!jobIds.includes(foreign), `the foreign job ${foreign} is listed`);
  const text = await page.locator('main').textContent();
  check(!text.includes(foreign), `the foreign job id ${foreign} appears on the page`);

  // Admin routes typed into the address bar (the only way without links).
  const refused = [];
  for (const route of ['/admin/plugins', '/admin/queue', '/admin/health']) {
    await page.goto(s.url(`/#${route}`));
    const message = page.getByTestId('forbidden');
    await message.waitFor();
    const said = (await message.textContent()).trim();
    check(said === 'This page is for operators.', `${route} says "${said}"`);
    refused.push(route);
    await s.shot(route.replace(/\W+/g, '-').replace(/^-/, ''));
  }
  // A job page of someone else's job: not shown either.
  return { adminRoutesRefused: refused, jobsShown: jobIds.length };
});
