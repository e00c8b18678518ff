// Sign in: the identity provider (OIDC), the demo accounts (with --demo),
// or a pasted token.

import { api } from '../api.js';
import { h, replace, field, note } from '../dom.js';

export async function render(main, ctx) {
  // The server sends a refused provider sign-in back as ?signInError=...: show it once.
  const params = new URLSearchParams(location.search);
  const refused = params.get('signInError');
  params.delete('signInError');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}${location.hash}`);
  const status = h('div', { 'aria-live': 'polite' });
  const showError = (message) => replace(status, note('error', h('p', { 'data-testid': 'sign-in-error' }, message)));
  if (refused) showError(refused);
  const card = h('section', { class: 'card sign-in' }, h('h1', {}, 'Sign in to Exporter'), status);
  replace(main, card);

  let options;
  try {
    options = await api('GET', '/api/session/options', undefined, { quiet401: true });
  } catch (error) {
    return card.append(note('error', `Sign-in options could not be loaded: ${error.message}`));
  }

  async function signIn(body, button) {
    button.disabled = true;
    replace(status, h('p', { class: 'muted' }, 'Signing in…'));
    try {
      await api('POST', '/api/session', body, { quiet401: true });
      await ctx.refreshSession();
      ctx.navigate('/exports');
    } catch (error) {
      showError(error.message);
      button.disabled = false;
    }
  }

  if (options.oidc) {
    let host = options.oidc.issuer;
    try {
      host = new URL(host).host;
    } catch {
      // Shown as given.
    }
    card.append(h('div', { class: 'sign-in-block' },
      h('a', { class: 'button primary wide', href: options.oidc.loginUrl, 'data-testid': 'oidc-login' }, 'Sign in with your identity provider'),
      h('p', { class: 'hint center' }, `Your organization's sign-in at ${host}`)));
  }

  if (options.demoAccounts && options.demoAccounts.length) {
    card.append(h('div', { class: 'sign-in-block' }, h('h2', {}, 'Demo accounts'),
      h('p', { class: 'hint' }, 'This server runs in demo mode: pick an account to sign in as.'),
      h('ul', { class: 'demo-accounts' }, options.demoAccounts.map((a) => h('li', {},
        h('button', { type: 'button', class: 'demo-account', 'data-testid': `demo-${a.email}`, onclick: (e) => signIn({ demoAccount: a.email }, e.currentTarget) },
          h('span', { class: 'demo-name' }, a.name), h('span', { class: 'demo-meta' }, `${a.role} · ${a.email}`)))))));
  }

  const token = h('textarea', { rows: 3, autocomplete: 'off', spellcheck: 'false', 'data-testid': 'token-input' });
  const submit = h('button', { type: 'submit', 'data-testid': 'token-submit' }, 'Sign in with token');
  const form = h('form', { class: 'sign-in-block' }, field('Access token', token, 'Paste a bearer token (JWT) issued for you.'), submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (token.value.trim()) signIn({ token: token.value.trim() }, submit);
    else showError('Paste a token first.');
  });
  card.append(h('details', { class: 'token', open: !options.oidc && !options.demoAccounts }, h('summary', {}, 'Sign in with a token'), form));
  return null;
}
