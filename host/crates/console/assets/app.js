// The console's shell: the session, the navigation and the hash routes.
// A page is a module loaded on first visit whose `render(view, ctx)` may
// return a function that stops what it started (its event streams).

import { api, ApiError, setCsrfToken, setUnauthorizedHandler } from './api.js';
import { h, replace, note } from './dom.js';

const operator = (s) => s.role === 'SuperAdmin';
const routes = {
  '/sign-in': { page: 'sign-in', title: 'Sign in', open: true },
  '/exports': { page: 'exports', title: 'My exports' },
  '/new': { page: 'new-export', title: 'New export', allow: (s) => s.role !== 'Member' },
  '/admin/plugins': { page: 'plugins', title: 'Plugins', allow: operator },
  // Admins see their own organization's queue (the endpoint scopes it).
  '/admin/queue': { page: 'queue', title: 'Queue', allow: (s) => operator(s) || s.role === 'Admin' },
  '/admin/health': { page: 'health', title: 'Health', allow: operator },
};
const links = [['/exports', 'nav-exports'], ['/new', 'nav-new'], ['/admin/plugins', 'nav-plugins'], ['/admin/queue', 'nav-queue'], ['/admin/health', 'nav-health']];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const account = document.getElementById('account');
const ctx = { session: null, navigate, refreshSession };
let cleanup = null;
let turns = 0;

function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

function signedOut() {
  ctx.session = null;
  setCsrfToken(null);
}

async function refreshSession() {
  try {
    ctx.session = await api('GET', '/api/session', undefined, { quiet401: true });
    setCsrfToken(ctx.session.csrfToken);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    signedOut();
  }
  return ctx.session;
}

async function signOut() {
  // The session may already have ended; either way this page is signed out.
  await api('DELETE', '/api/session').catch(() => {});
  signedOut();
  navigate('/sign-in');
}

const currentPath = () => (location.hash.slice(1) || '/exports').split('?')[0];

function renderChrome() {
  const s = ctx.session;
  replace(nav, s && h('ul', {}, links.filter(([path]) => !routes[path].allow || routes[path].allow(s)).map(([path, testid]) =>
    h('li', {}, h('a', { href: `#${path}`, 'data-testid': testid, 'aria-current': currentPath() === path && 'page' }, routes[path].title)))));
  replace(account, s && [
    h('span', { 'data-testid': 'signed-in-as' }, s.name || s.email, ' ', h('span', { class: 'role' }, s.role)),
    h('button', { type: 'button', class: 'link', onclick: signOut, 'data-testid': 'sign-out' }, 'Sign out')]);
}

async function route() {
  const turn = ++turns;
  if (cleanup) cleanup();
  cleanup = null;
  const path = currentPath();
  const entry = routes[path];
  renderChrome();
  if (entry && !entry.open && !ctx.session) return navigate('/sign-in');
  if (entry && entry.open && ctx.session) return navigate('/exports');
  document.title = `${entry ? entry.title : 'Not found'} · Exporter`;
  // Each visit renders into its own element: a page still loading when the
  // user moves on writes into a detached element, not over the next page.
  const view = h('div');
  replace(main, view);
  if (!entry || (entry.allow && !entry.allow(ctx.session))) {
    replace(view, h('h1', {}, entry ? entry.title : 'Page not found'), note('info',
      entry && h('p', { 'data-testid': 'forbidden' }, path.startsWith('/admin/') ? 'This page is for operators.' : 'Your role cannot use this page.'),
      h('p', {}, h('a', { href: '#/exports' }, 'Go to My exports'))));
  } else {
    try {
      const page = await import(`./pages/${entry.page}.js`);
      const done = turn === turns && (await page.render(view, ctx));
      if (turn !== turns) return done && done();
      cleanup = done || null;
    } catch (error) {
      replace(view, h('h1', {}, entry.title), note('error', error.message || String(error)));
    }
  }
  // Keyboard and screen-reader users start at the new page's heading.
  const heading = view.querySelector('h1');
  if (heading && turn === turns) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

setUnauthorizedHandler(() => {
  if (!ctx.session) return;
  signedOut();
  navigate('/sign-in');
});
window.addEventListener('hashchange', route);
// The skip link must not change the hash: that is the router's.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

refreshSession().then(() => {
  if (!location.hash) history.replaceState(null, '', `${location.pathname}${location.search}#${ctx.session ? '/exports' : '/sign-in'}`);
  route();
}, (error) => replace(main, note('error', `The console could not reach the server: ${error.message}`)));
