// Markup in data renders as text: a plugin whose description contains
// <script>, and a failed job whose error contains HTML.
//
// env: EXPORTER_URL, SCREENSHOT_DIR, HTML_PLUGIN_NAME (a format whose
// installed version's description holds markup), HTML_JOB_ID (a failed job
// whose error holds markup, visible to the account); optional
// ESCAPING_EMAIL (super@exporter.test: sees both).
// stdout: {"scenario","ok","description":"...","error":"..."}

import { scenario, check, need } from './lib.mjs';

const email = process.env.ESCAPING_EMAIL || 'super@exporter.test';
const pluginName = need('HTML_PLUGIN_NAME');
const jobId = need('HTML_JOB_ID');

await scenario('escaping', async (s) => {
  const { page } = s;
  // Any element or handler the data would create shows up here.
  await page.addInitScript(() => {
    window.__created = [];
    new MutationObserver((records) => {
      for (const r of records) {
        for (const node of r.addedNodes) {
          if (node.nodeType !== 1) continue;
          for (const el of [node, ...node.querySelectorAll('*')]) {
            // The page's own module script is the one expected.
            const own = el.tagName === 'SCRIPT' && el.getAttribute('src') === '/assets/app.js';
            if (!own && ['SCRIPT', 'IMG', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) window.__created.push(el.outerHTML.slice(0, 120));
            for (const a of el.attributes) if (/^on/i.test(a.name)) window.__created.push(`${el.tagName} ${a.name}`);
          }
        }
      }
    }).observe(document, { childList: true, subtree: true });
  });
  await s.signInDemo(email);

  // The failed job's error, in My exports.
  const row = page.locator(`li.job[data-job-id="${jobId}"]`);
  await row.waitFor();
  const error = (await row.getByTestId('job-error').textContent()) || '';
  check(/<[a-z][^>]*>/i.test(error), `the job error shown has no literal markup: ${JSON.stringify(error)}`);
  await s.shot('job-error');

  // The plugin's description, on Plugins.
  await s.nav('nav-plugins', 'Plugins');
  const format = page.getByTestId(`format-${pluginName}`);
  await format.waitFor();
  const descriptions = await format.getByTestId('version-description').allTextContents();
  const description = descriptions.find((d) => /<script/i.test(d));
  check(description, `no version of ${pluginName} shows a description with a literal <script>: ${JSON.stringify(descriptions)}`);
  await s.shot('plugin-description');

  const scripts = await page.evaluate(() => [...document.querySelectorAll('script')].map((el) => el.src));
  check(scripts.every((src) => src.endsWith('/assets/app.js')), `unexpected script elements: ${JSON.stringify(scripts)}`);
  const created = await page.evaluate(() => window.__created);
  check(created.length === 0, `elements or handlers were created from data: ${JSON.stringify(created)}`);
  check(s.dialogs.length === 0, `a dialog fired: ${JSON.stringify(s.dialogs)}`);
  // The test plugins' markup sets window.pwned if it ever runs.
  check(await page.evaluate(() => window.pwned === undefined), 'markup from data ran (window.pwned is set)');
  return { description, error };
});
