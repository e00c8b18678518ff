#!/usr/bin/env node
// Starts provider.mjs and walks the whole sign-in over HTTP as a browser and
// a relying party would: discovery, JWKS, an authorization request with PKCE
// S256, the login form (GET, then POST), the redirect with `code`, the token
// exchange (no client authentication, code_verifier), the id_token's
// signature and claims (iss, aud, nonce, email, email_verified), userinfo,
// and the refusals (no PKCE, wrong verifier, code reuse, unknown login,
// cancel). Exits 0 when every check passes, 1 otherwise.
//   node selftest.mjs        (after `npm ci` in this folder)
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = 'exporter-selftest';
// Registered without a port: a loopback http redirect URI matches any port.
const REGISTERED_REDIRECT = 'http://127.0.0.1/api/session/oidc/callback';
const REDIRECT = 'http://127.0.0.1:18999/api/session/oidc/callback';
const ACCOUNTS = [
  { login: 'manager', email: 'manager@acme.test', email_verified: true },
  { login: 'stranger', email: 'stranger@nowhere.test', email_verified: true },
  { login: 'unverified', email: 'member@acme.test', email_verified: false },
];

let passed = 0;
let failed = 0;
function check(ok, what, extra) {
  if (ok) {
    passed += 1;
    console.log(`ok - ${what}`);
  } else {
    failed += 1;
    console.log(`not ok - ${what}${extra === undefined ? '' : `: ${typeof extra === 'string' ? extra : JSON.stringify(extra)}`}`);
  }
  return ok;
}

// ------------------------------------------------------------ a cookie jar
class Jar {
  constructor() { this.cookies = new Map(); }
  take(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expires = attrs.map((a) => a.trim()).find((a) => /^expires=/i.test(a));
      const gone = value === '' || (expires && Date.parse(expires.slice(8)) < Date.now());
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

async function get(url, jar) {
  const res = await fetch(url, { redirect: 'manual', headers: jar ? { cookie: jar.header() } : {} });
  jar?.take(res);
  return res;
}

async function postForm(url, form, jar) {
  const res = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(jar ? { cookie: jar.header() } : {}) },
    body: new URLSearchParams(form).toString(),
  });
  jar?.take(res);
  return res;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function decodeJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

// ------------------------------------------------------------ the provider
const child = spawn(process.execPath, [join(here, 'provider.mjs')], {
  env: {
    ...process.env,
    OIDC_PORT: '0',
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_REDIRECT_URI: REGISTERED_REDIRECT,
    OIDC_ACCOUNTS: JSON.stringify(ACCOUNTS),
  },
  stdio: ['pipe', 'pipe', 'inherit'],
});
const killTimer = setTimeout(() => {
  console.log('not ok - selftest timed out');
  child.kill('SIGTERM');
  process.exit(1);
}, 60_000);

const lines = createInterface({ input: child.stdout });
const [first] = await Promise.race([
  once(lines, 'line'),
  once(child, 'exit').then(([code]) => { throw new Error(`provider exited (${code}) before it was ready`); }),
]);
const stdoutExtra = [];
lines.on('line', (l) => stdoutExtra.push(l));

const ready = JSON.parse(first);
const issuer = ready.issuer;
check(/^http:\/\/127\.0\.0\.1:\d+$/.test(issuer) && Object.keys(ready).length === 1,
  'prints one line {"issuer":"http://127.0.0.1:PORT"}', first);

// Starts an authorization request; returns the PKCE verifier, state, nonce,
// and the response of the authorization endpoint.
async function authorize(jar, overrides = {}) {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(12));
  const nonce = b64url(crypto.randomBytes(12));
  const params = {
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'openid email',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  for (const [k, v] of Object.entries(params)) if (v === undefined) delete params[k];
  const res = await get(`${discovery.authorization_endpoint}?${new URLSearchParams(params)}`, jar);
  return { verifier, state, nonce, res };
}

// Follows an authorization through the login page with `login`; returns the
// final redirect (Location URL) or the HTML of a page that did not redirect.
async function signIn(jar, login, overrides) {
  const flow = await authorize(jar, overrides);
  const loc = flow.res.headers.get('location');
  if (flow.res.status !== 303 || !loc) return { ...flow, error: `authorization answered ${flow.res.status}` };
  const interactionUrl = new URL(loc, issuer);
  const pageRes = await get(interactionUrl, jar);
  const html = await pageRes.text();
  const action = /<form id="login-form" method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) return { ...flow, error: 'no login form', html };
  const submitted = await postForm(new URL(action, issuer), { login }, jar);
  if (submitted.status !== 303) return { ...flow, html: await submitted.text(), status: submitted.status, loginPage: html };
  // The provider resumes the authorization, then redirects to the client.
  let next = new URL(submitted.headers.get('location'), issuer);
  for (let hops = 0; hops < 5 && next.origin === issuer; hops += 1) {
    const r = await get(next, jar);
    if (r.status < 300 || r.status >= 400) return { ...flow, error: `resume answered ${r.status}`, html: await r.text() };
    next = new URL(r.headers.get('location'), issuer);
  }
  return { ...flow, redirect: next, loginPage: html };
}

async function exchange(code, verifier) {
  const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: CLIENT_ID };
  if (verifier !== undefined) form.code_verifier = verifier;
  const res = await postForm(discovery.token_endpoint, form);
  return { status: res.status, body: await res.json() };
}

let discovery;
try {
  // ---------------------------------------------------------- discovery
  const dres = await fetch(`${issuer}/.well-known/openid-configuration`);
  discovery = await dres.json();
  check(dres.status === 200 && discovery.issuer === issuer, 'discovery answers with the issuer', discovery.issuer);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
    check(typeof discovery[k] === 'string' && discovery[k].startsWith(`${issuer}/`), `discovery has ${k} on the issuer`, discovery[k]);
  }
  check(JSON.stringify(discovery.code_challenge_methods_supported) === '["S256"]', 'PKCE S256 advertised', discovery.code_challenge_methods_supported);
  check(discovery.token_endpoint_auth_methods_supported.includes('none'), 'token endpoint auth "none" advertised');

  const jres = await fetch(discovery.jwks_uri);
  const jwks = await jres.json();
  check(jres.status === 200 && jwks.keys?.length === 1 && jwks.keys[0].kty === 'RSA' && !jwks.keys[0].d,
    'JWKS has one public RSA key', jwks);

  // ---------------------------------------------------------- happy path
  const jar = new Jar();
  const flow = await signIn(jar, 'manager');
  check(/<label for="login">Username or email<\/label>/.test(flow.loginPage ?? '')
    && /<input id="login" name="login" type="text"/.test(flow.loginPage ?? '')
    && /<button id="sign-in" type="submit">Sign in<\/button>/.test(flow.loginPage ?? ''),
  'login page: label "Username or email", input name="login", button "Sign in"');
  const redirect = flow.redirect;
  check(redirect && `${redirect.origin}${redirect.pathname}` === REDIRECT,
    'redirects to the client redirect_uri (registered without port, used with one)', redirect?.href ?? flow);
  const code = redirect?.searchParams.get('code');
  check(!!code, 'redirect carries a code', redirect?.href);
  check(redirect?.searchParams.get('state') === flow.state, 'redirect carries the state');
  check(redirect?.searchParams.get('iss') === issuer, 'redirect carries iss (RFC 9207)');

  const wrong = await exchange(code, b64url(crypto.randomBytes(32)));
  check(wrong.status === 400 && wrong.body.error === 'invalid_grant', 'token exchange with a wrong code_verifier is refused', wrong);

  // A refused exchange consumed nothing? oidc-provider treats a failed PKCE
  // check as invalid_grant and revokes the code, so run a fresh flow.
  const flow2 = await signIn(jar, 'manager@acme.test');
  const code2 = flow2.redirect?.searchParams.get('code');
  check(!!code2, 'a second sign-in in the same browser shows the login page again and gives a code (login by email)');
  const tok = await exchange(code2, flow2.verifier);
  check(tok.status === 200 && tok.body.token_type === 'Bearer' && typeof tok.body.id_token === 'string',
    'token exchange with client auth none + code_verifier gives an id_token', tok);
  const idt = decodeJwt(tok.body.id_token);
  const key = crypto.createPublicKey({ key: jwks.keys.find((k) => k.kid === idt.header.kid), format: 'jwk' });
  check(idt.header.alg === 'RS256'
    && crypto.verify('sha256', Buffer.from(idt.signingInput), key, idt.signature),
  'id_token signature verifies against the JWKS (RS256)', idt.header);
  const p = idt.payload;
  check(p.iss === issuer && p.aud === CLIENT_ID, 'id_token iss and aud', { iss: p.iss, aud: p.aud });
  check(p.nonce === flow2.nonce, 'id_token nonce', { nonce: p.nonce, expected: flow2.nonce });
  check(p.email === 'manager@acme.test' && p.email_verified === true, 'id_token email + email_verified', p);
  check(p.sub === 'manager' && p.exp > Date.now() / 1000, 'id_token sub and exp', p);

  const ui = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.body.access_token}` } });
  const uib = await ui.json();
  check(ui.status === 200 && uib.email === 'manager@acme.test' && uib.email_verified === true, 'userinfo with the access token', uib);

  const again = await exchange(code2, flow2.verifier);
  check(again.status === 400 && again.body.error === 'invalid_grant', 'a code is single-use (and its reuse revokes what it gave)', again);

  // ---------------------------------------------------------- other accounts
  const s = await signIn(new Jar(), 'unverified');
  const st = await exchange(s.redirect?.searchParams.get('code'), s.verifier);
  const sp = st.body.id_token ? decodeJwt(st.body.id_token).payload : {};
  check(sp.email === 'member@acme.test' && sp.email_verified === false, 'an account with email_verified false says so', sp);

  // ---------------------------------------------------------- refusals
  const noPkce = await authorize(new Jar(), { code_challenge: undefined, code_challenge_method: undefined });
  const np = new URL(noPkce.res.headers.get('location') ?? 'http://x/', issuer);
  check(noPkce.res.status === 303 && np.searchParams.get('error') === 'invalid_request', 'authorization without PKCE is refused', np.href);

  const plain = await authorize(new Jar(), { code_challenge_method: 'plain' });
  const pl = new URL(plain.res.headers.get('location') ?? 'http://x/', issuer);
  check(pl.searchParams.get('error') === 'invalid_request', 'PKCE method plain is refused', pl.href);

  const badRedirect = await authorize(new Jar(), { redirect_uri: 'http://127.0.0.1:18999/elsewhere' });
  check(badRedirect.res.status === 400, 'an unregistered redirect_uri is refused (400, no redirect)', badRedirect.res.status);

  const unknown = await signIn(new Jar(), 'nobody@nowhere.test');
  check(unknown.status === 200 && /<p id="error" class="error" role="alert">No account &quot;nobody@nowhere.test&quot;/.test(unknown.html ?? ''),
    'an unknown login re-shows the form with an error', unknown.html?.slice(0, 300));

  const cj = new Jar();
  const cf = await authorize(cj);
  const ipage = await get(new URL(cf.res.headers.get('location'), issuer), cj);
  const ihtml = await ipage.text();
  const abortAction = /<form id="cancel-form" method="post" action="([^"]+)"/.exec(ihtml)?.[1];
  let cres = await postForm(new URL(abortAction, issuer), {}, cj);
  let cloc = new URL(cres.headers.get('location'), issuer);
  while (cloc.origin === issuer) {
    cres = await get(cloc, cj);
    cloc = new URL(cres.headers.get('location'), issuer);
  }
  check(cloc.searchParams.get('error') === 'access_denied' && cloc.searchParams.get('state') === cf.state,
    'Cancel returns error=access_denied to the client', cloc.href);

  check(stdoutExtra.length === 0, 'nothing else printed on stdout', stdoutExtra);
} catch (e) {
  check(false, 'selftest ran to the end', e.stack);
}

// ------------------------------------------------------------ stop on stdin close
clearTimeout(killTimer);
child.stdin.end();
const exited = await Promise.race([
  once(child, 'exit').then(() => true),
  new Promise((r) => { setTimeout(() => r(false), 5000); }),
]);
check(exited, 'provider exits when its stdin closes');
if (!exited) child.kill('SIGKILL');

console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
