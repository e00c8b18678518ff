// Plugins (SuperAdmin): every format's versions with their install report,
// who gets which version; install, activate, canary, roll back, delete.
// Everything a plugin says about itself is shown as text.

import { api, ApiError, upload, seg } from '../api.js';
import { h, replace, field, setFieldError, note, bytes, when, uid } from '../dom.js';

/**
 * Organizations the page can name, id -> name: the queue's and one's own.
 * No endpoint lists them all, so the canary fields also take a typed id.
 */
async function organizations() {
  const names = new Map();
  const [queue, own] = await Promise.all([api('GET', '/api/admin/queue').catch(() => ({})), api('GET', '/api/organization').catch(() => null)]);
  for (const o of [...(queue.organizations || []), ...(own ? [{ organizationId: own.id, name: own.name }] : [])]) {
    names.set(o.organizationId, o.name || o.organizationId);
  }
  return names;
}

/** The install report step by step: validation, then the conformance cases. */
export function reportView(report, open = false) {
  if (!report || typeof report !== 'object') return h('p', { class: 'muted' }, 'No report recorded.');
  const step = (s) => h('li', { class: s.passed ? 'pass' : 'fail' },
    h('span', { class: 'mark', 'aria-hidden': 'true' }, s.passed ? '✓' : '✗'),
    h('span', { class: 'visually-hidden' }, s.passed ? 'Passed: ' : 'Failed: '),
    h('strong', {}, s.name), h('span', { class: 'muted' }, ` ${s.millis ?? '?'} ms`),
    s.detail && h('div', { class: 'detail' }, s.detail));
  const steps = report.steps || [];
  const cases = report.conformance || [];
  const failed = [...steps, ...cases].filter((s) => !s.passed).length;
  const c = report.component;
  return h('details', { class: 'report', open, 'data-testid': 'report' },
    h('summary', {}, `Report: ${report.passed ? 'passed' : 'refused'} — ${steps.length} steps, ${cases.length} conformance cases${failed ? `, ${failed} failed` : ''}`),
    report.reason && h('p', { class: 'reason', 'data-testid': 'report-reason' }, report.reason),
    h('ol', { class: 'steps' }, steps.map(step)),
    cases.length > 0 && [h('h4', {}, 'Conformance'), h('ol', { class: 'steps' }, cases.map(step))],
    c && h('p', { class: 'muted' }, `The component says it is ${c.name} ${c.version} (${c.mediaType}, contract ${c.contract}).`));
}

export async function render(main) {
  const status = h('div', { 'aria-live': 'polite' });
  const formats = h('div');
  replace(main, h('h1', {}, 'Plugins'), h('p', { class: 'muted' }, 'Loading…'));
  const orgs = await organizations();
  const orgName = (id) => orgs.get(id) || id;

  // --- Install ---
  const name = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'upload-name' });
  const file = h('input', { type: 'file', accept: '.wasm,application/wasm', 'data-testid': 'upload-file' });
  const activate = h('input', { type: 'checkbox', checked: true, 'data-testid': 'upload-activate' });
  // Suggestions for the organization fields: value the id, label the name.
  const known = h('datalist', { id: uid('orgs') }, [...orgs].map(([id, n]) => h('option', { value: id }, n)));
  const orgInput = (attrs) => h('input', { type: 'text', list: known.id, autocomplete: 'off', spellcheck: 'false', placeholder: 'organization id', ...attrs });
  const scope = orgInput({ 'data-testid': 'upload-scope' });
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'data-testid': 'upload-progress', 'aria-label': 'Upload progress' });
  const progressText = h('span', { class: 'muted' });
  const result = h('div', { 'data-testid': 'upload-result', 'aria-live': 'polite' });
  const nameField = field('Format name', name, 'Lower-kebab-case, as the plugin calls itself: e.g. csv or my-format.');
  const fileField = field('Component (.wasm)', file);
  const activateField = field('Activate when it passes validation', activate);
  activateField.classList.add('field-check');
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'upload-submit' }, 'Upload and validate');
  const form = h('form', { class: 'card install', novalidate: true }, h('h2', {}, 'Install a version'),
    h('div', { class: 'row' }, nameField, fileField),
    h('div', { class: 'row' }, activateField, field('Only for this organization (a canary)', scope, 'Empty: for everyone.')), known,
    h('div', { class: 'actions' }, submit, progress, progressText), result);
  file.addEventListener('change', () => {
    const guess = (file.files[0]?.name || '').replace(/\.wasm$/i, '').replace(/[_\s]+/g, '-').toLowerCase();
    if (!name.value && /^[a-z][a-z0-9-]*$/.test(guess)) name.value = guess;
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setFieldError(nameField, null);
    setFieldError(fileField, null);
    replace(result);
    const format = name.value.trim();
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(format)) {
      setFieldError(nameField, 'Give the format name in lower-kebab-case (a-z, 0-9, -), starting with a letter.');
      return name.focus();
    }
    if (!file.files[0]) {
      setFieldError(fileField, 'Choose the .wasm file to install.');
      return file.focus();
    }
    const query = new URLSearchParams();
    if (!activate.checked) query.set('activate', 'false');
    if (scope.value.trim()) query.set('organizationId', scope.value.trim());
    submit.disabled = true;
    progress.hidden = false;
    progressText.textContent = 'Uploading…';
    try {
      const { body } = await upload('PUT', `/api/admin/formatters/${seg(format)}${query.toString() ? `?${query}` : ''}`, file.files[0], 'application/wasm', (sent, total) => {
        progress.value = Math.round((sent / total) * 100);
        progressText.textContent = sent < total ? `Uploading… ${bytes(sent)} of ${bytes(total)}` : 'Validating…';
      });
      const where = scope.value.trim() ? `for ${orgName(scope.value.trim())} only.` : 'for everyone.';
      replace(result, note('success', h('p', { 'data-testid': 'upload-outcome', 'data-sha256': body.sha256, 'data-version': body.version },
        body.alreadyInstalled ? `These bytes were already installed as ${body.name} ${body.version}.` : `Installed ${body.name} ${body.version}.`,
        body.activated ? ` It is now active ${where}` : ' It is not active yet.')), reportView(body.report, true));
      await refresh();
    } catch (error) {
      const report = error instanceof ApiError && error.problem.report;
      replace(result, note('error', h('p', { 'data-testid': 'upload-outcome' }, error.message)), report && reportView(report, true));
      if (report) await refresh();
    } finally {
      submit.disabled = false;
      progress.hidden = true;
      progressText.textContent = '';
    }
  });

  // --- Versions ---
  async function act(button, what, request) {
    button.disabled = true;
    replace(status, h('p', { class: 'muted' }, `${what}…`));
    try {
      await request();
      replace(status, note('success', h('p', { 'data-testid': 'action-outcome' }, `${what}: done.`)));
      await refresh();
    } catch (error) {
      replace(status, note('error', h('p', { 'data-testid': 'action-outcome' }, `${what}: ${error.message}`)));
      button.disabled = false;
    }
  }
  const activateAs = (format, v, organizationId) => () => api('POST', `/api/admin/formatters/${seg(format)}/activate`,
    { version: v.version, sha256: v.sha256, ...(organizationId && { organizationId }) });
  const button = (label, testid, what, request, attrs = {}) => {
    const b = h('button', { type: 'button', 'data-testid': testid, ...attrs }, label);
    b.addEventListener('click', () => act(b, what, request));
    return b;
  };

  function versionCard(format, v, previous) {
    const label = `${format} ${v.version}`;
    const canaries = v.canaryOrganizations || [];
    const pick = orgInput({ id: uid('canary'), 'data-testid': 'canary-org' });
    const runnable = v.status !== 'Refused';
    return h('li', { class: 'version', 'data-testid': `version-${format}-${v.version}`, 'data-version': v.version, 'data-sha256': v.sha256, 'data-status': v.status, 'data-active': String(!!v.active) },
      h('div', { class: 'job-head' }, h('h3', {}, v.version), h('span', { class: 'badges' },
        v.active && h('span', { class: 'badge badge-completed' }, 'Active for everyone'),
        canaries.map((org) => h('span', { class: 'badge badge-processing' }, `Canary: ${orgName(org)}`)),
        !runnable && h('span', { class: 'badge badge-failed' }, v.status),
        v.status === 'Disabled' && h('span', { class: 'badge badge-failed' }, 'Disabled'))),
      h('dl', { class: 'facts' },
        [['Status', v.status + (v.statusReason ? ` — ${v.statusReason}` : '')],
          ['Description', v.description && h('span', { 'data-testid': 'version-description' }, v.description)],
          ['Contract', v.contract || '—'],
          ['sha256', h('code', { 'data-testid': 'version-sha256' }, v.sha256)],
          ['Size', bytes(v.size)],
          ['Installed', `${when(v.installedAt)} by ${v.installedBy} (${v.source})`]]
          .filter(([, value]) => value).map(([k, value]) => [h('dt', {}, k), h('dd', {}, value)])),
      h('div', { class: 'actions' },
        runnable && !v.active && button('Activate for everyone', 'activate', `Activate ${label}`, activateAs(format, v), { class: 'primary', 'aria-label': `Activate ${label} for everyone` }),
        runnable && !v.active && h('span', { class: 'inline canary' }, h('label', { for: pick.id }, 'Canary for'), pick,
          button('Start canary', 'canary', `Canary ${label}`, () => {
            if (!pick.value.trim()) throw new Error('type or pick the organization first');
            return activateAs(format, v, pick.value.trim())();
          }, { 'aria-label': `Start a canary of ${label} for the chosen organization` })),
        canaries.map((org) => button(`End canary for ${orgName(org)}`, 'end-canary', `End the canary of ${label} for ${orgName(org)}`,
          () => api('DELETE', `/api/admin/formatters/${seg(format)}/canary/${seg(org)}`), { 'data-org': org })),
        v.active && previous && button(`Roll back to ${previous.version}`, 'rollback', `Roll back ${format} to ${previous.version}`, activateAs(format, previous)),
        !v.active && !canaries.length && v.source !== 'builtin' && button('Delete', 'delete', `Delete ${label}`,
          () => api('DELETE', `/api/admin/formatters/${seg(format)}/versions/${seg(v.version)}?sha256=${seg(v.sha256)}`), { class: 'danger', 'aria-label': `Delete ${label}` })),
      reportView(v.report, !runnable));
  }

  function formatSection(format, versions) {
    // Newest first; rollback goes to the newest runnable version installed before the active one.
    const sorted = [...versions].sort((a, b) => b.installedAt - a.installedAt);
    const active = sorted.find((v) => v.active);
    const others = sorted.filter((v) => v.status !== 'Refused' && v !== active);
    const previous = active && (others.find((v) => v.installedAt < active.installedAt) || others[0]);
    return h('section', { class: 'card', 'data-testid': `format-${format}` }, h('h2', {}, format),
      h('h3', { class: 'sub' }, 'Who gets which version'),
      h('ul', { class: 'gets', 'data-testid': 'who-gets' },
        h('li', {}, 'Everyone: ', h('strong', {}, active ? active.version : 'no active version')),
        sorted.map((v) => (v.canaryOrganizations || []).map((org) =>
          h('li', { 'data-testid': `gets-${org}` }, `${orgName(org)}: `, h('strong', {}, v.version), ' (canary)')))),
      h('h3', { class: 'sub' }, `Versions (${sorted.length})`),
      h('ol', { class: 'versions' }, sorted.map((v) => versionCard(format, v, previous))));
  }

  async function refresh() {
    let versions;
    try {
      versions = await api('GET', '/api/admin/formatters');
    } catch (error) {
      return replace(formats, note('error', `The plugins could not be loaded: ${error.message}`));
    }
    const byName = new Map();
    for (const v of versions) byName.set(v.name, [...(byName.get(v.name) || []), v]);
    // Keep the keyboard where it was when the same control is drawn again.
    const focused = document.activeElement?.getAttribute('aria-label');
    replace(formats, [...byName.keys()].sort().map((n) => formatSection(n, byName.get(n))));
    const again = focused && [...formats.querySelectorAll('[aria-label]')].find((el) => el.getAttribute('aria-label') === focused);
    if (again) again.focus();
  }

  replace(main, h('h1', {}, 'Plugins'), status, form, formats);
  await refresh();
  return null;
}
