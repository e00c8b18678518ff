// Sign in through the identity provider: the link on the sign-in page, the
// provider's login form, and back signed in; then an account whose email
// the Exporter does not know lands on the sign-in page with the reason.
//
// The provider is tests/oidc/provider.mjs (see its README); the Exporter
// must be configured with its issuer.
// env: EXPORTER_URL, SCREENSHOT_DIR, OIDC_LOGIN (a login the provider knows
// whose email is an Exporter user); optional OIDC_UNKNOWN_LOGIN (a login
// whose email the Exporter does not know; default "stranger"; empty: skip).
// stdout: {"scenario","ok","signedInAs":"...","refusal":"..."}

import { scenario, check, need } from './lib.mjs';

const login = need('OIDC_LOGIN');
const unknown = process.env.OIDC_UNKNOWN_LOGIN ?? 'stranger';

await scenario('oidc', async (s) => {
  const { page } = s;

  async function throughProvider(who, label) {
    await page.goto(s.url('/#/sign-in'));
    const link = page.getByTestId('oidc-login');
    await link.waitFor();
    await s.shot(`${label}-sign-in`);
    await link.click();
    const field = page.getByLabel('Username or email');
    await field.waitFor();
    await field.fill(who);
    await s.shot(`${label}-provider`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  await throughProvider(login, 'known');
  await page.getByTestId('signed-in-as').waitFor();
  await page.locator('h1', { hasText: 'My exports' }).waitFor();
  const signedInAs = (await page.getByTestId('signed-in-as').textContent()).trim();
  check(new URL(page.url()).origin === new URL(s.base).origin, `landed on ${page.url()}`);
  await s.shot('signed-in');

  let refusal = null;
  if (unknown) {
    await page.getByTestId('sign-out').click();
    await page.getByTestId('oidc-login').waitFor();
    await throughProvider(unknown, 'unknown');
    const error = page.getByTestId('sign-in-error');
    await error.waitFor();
    refusal = (await error.textContent()).trim();
    check(refusal.length > 0, 'the refusal says nothing');
    check(new URL(page.url()).hash === '#/sign-in', `a refused sign-in landed on ${page.url()}`);
    check((await page.getByTestId('signed-in-as').count()) === 0, 'a refused sign-in shows a signed-in user');
    await s.shot('refused');
  }
  return { signedInAs, refusal };
});
