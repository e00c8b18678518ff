#!/usr/bin/env node
// A real OpenID Connect provider (npm `oidc-provider`) on loopback, for
// Exporter's sign-in tests. Plain http on 127.0.0.1, one public client
// (authorization code + PKCE S256, no client authentication), accounts from
// the environment, and a one-field login page that is auto-consented.
//
// Environment:
//   OIDC_PORT          port to listen on (default 0 = a free port)
//   OIDC_CLIENT_ID     the client's id (required)
//   OIDC_REDIRECT_URI  the client's redirect URI (required); several may be
//                      given separated by spaces or commas. When every one is
//                      http on a loopback host, the client is registered as a
//                      "native" client, so the port of the redirect URI is not
//                      compared (RFC 8252 7.3): register the path once and the
//                      relying party may listen on any port.
//   OIDC_ACCOUNTS      JSON array: [{"login","email","email_verified", "sub"?,
//                      "name"?}]. `sub` defaults to `login`; `email_verified`
//                      defaults to true when omitted.
//   OIDC_TTL_SECONDS   lifetime of tokens and sessions (default 600)
//
// When listening it prints exactly one line to stdout:
//   {"issuer":"http://127.0.0.1:PORT"}
// and everything else (request log with OIDC_DEBUG=1, errors) to stderr.
// It exits on SIGTERM, SIGINT, or when its standard input closes (stdin is
// only watched when it is a pipe, so `node provider.mjs &` from a shell that
// closes stdin does not stop it at once).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

function fail(message) {
  process.stderr.write(`oidc provider: ${message}\n`);
  process.exit(2);
}

const port = Number.parseInt(process.env.OIDC_PORT ?? '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`OIDC_PORT is not a port: ${process.env.OIDC_PORT}`);
const clientId = process.env.OIDC_CLIENT_ID;
if (!clientId) fail('OIDC_CLIENT_ID is required');
const redirectUris = (process.env.OIDC_REDIRECT_URI ?? '').split(/[\s,]+/).filter(Boolean);
if (redirectUris.length === 0) fail('OIDC_REDIRECT_URI is required');
const ttl = Number.parseInt(process.env.OIDC_TTL_SECONDS ?? '600', 10);

let accounts;
try {
  accounts = JSON.parse(process.env.OIDC_ACCOUNTS ?? '[]');
} catch (e) {
  fail(`OIDC_ACCOUNTS is not JSON: ${e.message}`);
}
if (!Array.isArray(accounts)) fail('OIDC_ACCOUNTS must be a JSON array');
accounts = accounts.map((a, i) => {
  if (!a || typeof a.login !== 'string' || a.login === '') fail(`OIDC_ACCOUNTS[${i}] has no "login"`);
  return {
    sub: String(a.sub ?? a.login),
    login: a.login,
    email: a.email,
    email_verified: a.email_verified ?? true,
    name: a.name,
  };
});
const bySub = new Map(accounts.map((a) => [a.sub, a]));
function findByLogin(login) {
  const wanted = login.trim().toLowerCase();
  return accounts.find((a) => a.login.toLowerCase() === wanted)
    ?? accounts.find((a) => typeof a.email === 'string' && a.email.toLowerCase() === wanted);
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const allLoopbackHttp = redirectUris.every((u) => {
  let url;
  try { url = new URL(u); } catch { return false; }
  return url.protocol === 'http:' && LOOPBACK.has(url.hostname);
});

// Every authorization request shows the login page, even when the browser
// still has a session with the provider: a test can sign in as one account
// and then as another in the same browser. The check passes only on the
// request that resumes a login this page just completed.
const policy = interactionPolicy.base();
policy.get('login').checks.push(loginEveryTime());
function loginEveryTime() {
  return new interactionPolicy.Check(
    'login_every_time',
    'this test provider asks for the login on every authorization request',
    'login_required',
    (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT
      : interactionPolicy.Check.REQUEST_PROMPT),
  );
}

// A fresh RSA signing key per run (RS256, the default id_token algorithm).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: crypto.randomUUID() };

const configuration = {
  clients: [{
    client_id: clientId,
    client_name: 'Exporter (test)',
    application_type: allLoopbackHttp ? 'native' : 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: redirectUris,
  }],
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the scope's claims (email, email_verified) in the id_token of the
  // code flow, not only in userinfo.
  conformIdTokenClaims: false,
  async findAccount(_ctx, sub) {
    const account = bySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: account.sub,
      async claims() {
        const claims = { sub: account.sub };
        if (account.email !== undefined) claims.email = account.email;
        if (account.email_verified !== undefined) claims.email_verified = account.email_verified;
        if (account.name !== undefined) claims.name = account.name;
        return claims;
      },
    };
  },
  interactions: {
    policy,
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // Plain http on loopback: never Secure (oidc-provider only sets Secure
    // when the request came over https anyway).
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  jwks: { keys: [jwk] },
  ttl: {
    AccessToken: ttl,
    AuthorizationCode: 60,
    IdToken: ttl,
    Interaction: ttl,
    Session: ttl,
    Grant: ttl,
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<h1>Sign-in error</h1>
<p id="error" role="alert">${esc(out.error)}: ${esc(out.error_description ?? '')}</p>`);
  },
};

// ---------------------------------------------------------------- pages

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { font-family: sans-serif; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; }
label, input, button { display: block; font-size: 1rem; }
input { width: 100%; box-sizing: border-box; margin: .3rem 0 1rem; padding: .4rem; }
button { padding: .4rem 1rem; margin-bottom: .5rem; }
.error { color: #a00; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function loginPage(uid, clientName, error, login) {
  return page('Sign in - test identity provider', `<h1>Test identity provider</h1>
<p>Sign in to continue to ${esc(clientName)}.</p>
${error ? `<p id="error" class="error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
<label for="login">Username or email</label>
<input id="login" name="login" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${esc(login ?? '')}">
<button id="sign-in" type="submit">Sign in</button>
</form>
<form id="cancel-form" method="post" action="/interaction/${esc(uid)}/abort">
<button id="cancel" type="submit">Cancel</button>
</form>`);
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---------------------------------------------------------------- server

let provider;
let providerCallback;

async function interaction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (e) {
    // Unknown or expired interaction, or its cookie is missing.
    send(res, 400, page('Sign-in error', `<h1>Sign-in error</h1>
<p id="error" role="alert">This sign-in request is unknown or has expired (${esc(e.message)}). Start again from the application.</p>`));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, page('Sign-in error', '<h1>Sign-in error</h1><p id="error" role="alert">Interaction mismatch.</p>'));
    return;
  }
  const { prompt, params } = details;
  const client = await provider.Client.find(params.client_id);
  const clientName = client?.clientName ?? params.client_id;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'consent' && details.session?.accountId) {
      // A consent prompt alone (should not happen: login consents too).
      await finish(req, res, details, details.session.accountId);
      return;
    }
    send(res, 200, loginPage(uid, clientName, null, params.login_hint));
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const account = findByLogin(login);
    if (!account) {
      send(res, 200, loginPage(uid, clientName, `No account "${login}" at this provider.`, login));
      return;
    }
    await finish(req, res, details, account.sub);
    return;
  }
  res.statusCode = 405;
  res.end();
}

// Log in and consent to everything requested in one step (no consent page).
async function finish(req, res, details, accountId) {
  const { params } = details;
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  if (params.scope) grant.addOIDCScope(String(params.scope));
  if (params.claims) {
    try {
      const claims = JSON.parse(params.claims);
      const names = new Set([...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {})]);
      if (names.size) grant.addOIDCClaims([...names]);
    } catch {
      // the provider itself rejects a malformed claims parameter
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/.exec(path);
  if (process.env.OIDC_DEBUG) process.stderr.write(`${req.method} ${req.url}\n`);
  if (m) {
    interaction(req, res, m[1], m[2]).catch((e) => {
      process.stderr.write(`oidc provider: interaction failed: ${e.stack}\n`);
      if (!res.headersSent) send(res, 500, page('Error', `<p id="error" role="alert">${esc(e.message)}</p>`));
      else res.end();
    });
    return;
  }
  providerCallback(req, res);
});

server.on('error', (e) => fail(`cannot listen on 127.0.0.1:${port}: ${e.message}`));
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration);
  provider.proxy = false;
  provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc provider: server_error: ${err.stack}\n`));
  if (process.env.OIDC_DEBUG) {
    for (const ev of ['authorization.error', 'grant.error', 'grant.success', 'interaction.started']) {
      provider.on(ev, (...args) => {
        const err = args.find((a) => a instanceof Error);
        process.stderr.write(`oidc provider: ${ev}${err ? `: ${err.message} ${err.error_description ?? ''}` : ''}\n`);
      });
    }
  }
  providerCallback = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Stop when the parent closes our stdin (a pipe or a socket); a terminal or
// /dev/null is not watched.
try {
  const st = fs.fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  }
} catch {
  // no stdin at all
}
