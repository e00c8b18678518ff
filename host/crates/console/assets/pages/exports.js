// My exports: the caller's jobs, live from the event stream merged over
// the list. Rows update in place, so a focused button keeps its focus.

import { api, ApiError, seg } from '../api.js';
import { follow, newer } from '../live.js';
import { h, replace, note, bytes, count, when, duration } from '../dom.js';

const ACTIVE = new Set(['Pending', 'Processing']);
const known = (v) => v !== undefined && v !== null;

/** Seconds left at the rate so far, or null. */
export function eta(job, now = Date.now()) {
  const p = job.progress || {};
  if (job.status !== 'Processing' || !p.totalRows || !p.rowsWritten || !job.startedAt) return null;
  const elapsed = (now - Date.parse(job.startedAt)) / 1000;
  const left = elapsed > 0 ? ((p.totalRows - p.rowsWritten) * elapsed) / p.rowsWritten : 0;
  return left > 0 ? left : null;
}

function summary(job) {
  const range = job.dateRange ? [job.dateRange.from, job.dateRange.to].filter(Boolean).join(' – ') : '';
  const columns = job.columns && job.columns.length ? `${job.columns.length} columns` : 'all columns';
  return [job.format.toUpperCase(), range || 'all dates', columns, job.compression].filter(Boolean).join(' · ');
}

function figures(job) {
  const p = job.progress || {};
  const bits = [known(p.totalRows) ? `${count(p.rowsWritten)} of ${count(p.totalRows)} rows` : `${count(p.rowsWritten)} rows`];
  if (known(p.percent)) bits.push(`${p.percent}%`);
  if (job.file) bits.push(bytes(job.file.size));
  else if (p.bytesWritten) bits.push(bytes(p.bytesWritten));
  const left = eta(job);
  if (left !== null) bits.push(`about ${duration(left)} left`);
  if (job.status === 'Pending' && job.queuePosition) bits.push(`number ${job.queuePosition} in the queue`);
  if (ACTIVE.has(job.status) && job.error && job.attempts > 0) bits.push(`attempt ${job.attempts} of ${job.maxAttempts} failed; it will be retried`);
  if (job.expiresAt) bits.push(`file kept until ${when(job.expiresAt)}`);
  return bits.join(' · ');
}

/** One job's row; `update(job)` rewrites it in place. */
function jobRow(first, act) {
  const title = h('h2', { class: 'job-title', id: `job-${first.id}-title` });
  const badge = h('span', { class: 'badge', 'data-testid': 'job-status' });
  const meta = h('p', { class: 'job-meta' });
  const bar = h('progress', { max: 100, 'data-testid': 'job-progress' });
  const numbers = h('p', { class: 'job-figures' });
  const error = h('div', { class: 'job-error', hidden: true });
  const actions = h('div', { class: 'actions' });
  const parts = h('div');
  const extra = h('div', { class: 'job-extra' });
  const row = h('li', { class: 'job', 'data-testid': `job-${first.id}`, 'data-job-id': first.id },
    h('div', { class: 'job-head' }, title, badge), meta,
    h('div', { class: 'job-progress' }, bar, numbers), error, actions, parts, extra);
  let offered = '';

  function update(job) {
    const p = job.progress || {};
    row.dataset.status = job.status;
    title.textContent = job.dataType;
    badge.textContent = job.status === 'Pending' && job.error && job.attempts > 0 ? 'Retrying' : job.status;
    badge.className = `badge badge-${job.status.toLowerCase()}`;
    replace(meta, summary(job), h('br'), h('span', { class: 'muted' }, `Created ${when(job.createdAt)} · `, h('code', {}, job.id)));
    if (known(p.percent)) bar.value = p.percent;
    else if (ACTIVE.has(job.status)) bar.removeAttribute('value');
    else bar.value = 0;
    // A bar says nothing about a job that ended without rows.
    bar.hidden = !ACTIVE.has(job.status) && job.status !== 'Completed' && !p.rowsWritten;
    bar.setAttribute('aria-label', `Progress of ${job.dataType} export ${job.id}`);
    numbers.textContent = bar.hidden ? (job.attempts ? `after ${job.attempts} of ${job.maxAttempts} attempts` : '') : figures(job);
    const failed = job.error && job.status !== 'Completed' && job.status !== 'Expired';
    error.hidden = !failed;
    replace(error, failed ? [h('strong', {}, { Failed: 'Why it failed: ', Cancelled: 'Cancelled: ' }[job.status] || 'Last attempt failed: '),
      h('span', { 'data-testid': 'job-error' }, job.error)] : null);

    // Buttons are rebuilt only when what they offer changes.
    const list = job.parts || [];
    const key = `${job.status}|${list.length}`;
    if (key === offered) return;
    offered = key;
    const base = `/api/export-jobs/${seg(job.id)}`;
    const named = { 'aria-describedby': title.id };
    replace(actions,
      job.status === 'Completed' && [
        h('a', { class: 'button primary', href: `${base}/download`, download: '', 'data-testid': 'download', ...named }, 'Download'),
        h('button', { type: 'button', 'data-testid': 'copy-link', onclick: () => act.copyLink(job, extra), ...named }, 'Copy link'),
        !!(job.partMaxRows || job.partMaxBytes || list.length) && h('a', { class: 'button', href: `${base}/manifest`, 'data-testid': 'manifest', ...named }, 'Manifest'),
      ],
      ACTIVE.has(job.status) && h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel', onclick: (e) => act.cancel(job, e.currentTarget, extra), ...named }, 'Cancel'));
    replace(parts, list.length > 0 && h('details', { class: 'parts' }, h('summary', {}, `Parts (${list.length})`),
      h('ol', {}, list.map((part) => h('li', {},
        h('a', { href: `${base}/parts/${part.index}`, 'data-testid': `part-${part.index}` }, part.name),
        h('span', { class: 'muted' }, ` ${count(part.rows)} rows · ${bytes(part.size)}`))))));
  }

  update(first);
  return { row, update };
}

async function copyLink(job, extra) {
  replace(extra, h('p', { class: 'muted' }, 'Making a fresh link…'));
  try {
    const link = await api('POST', `/api/export-jobs/${seg(job.id)}/link`);
    const url = new URL(link.downloadUrl, location.origin).href;
    let copied = true;
    await navigator.clipboard.writeText(url).catch(() => {
      copied = false;
    });
    // The field is the fallback where the clipboard is refused, and shows what was copied.
    const input = h('input', { type: 'text', readonly: true, value: url, 'data-testid': 'link-field', 'aria-label': `Download link for ${job.id}` });
    replace(extra, h('div', { class: 'link-box', role: 'status' },
      h('p', {}, copied ? 'Link copied to the clipboard.' : 'Copy this link:', ` It works without signing in until ${when(link.expiresAt)}.`), input));
    if (!copied) input.select();
  } catch (error) {
    replace(extra, note('error', error.message));
  }
}

export async function render(main, ctx) {
  const state = h('span', { class: 'live-state', 'data-testid': 'live-state' }, 'Connecting…');
  const list = h('ol', { class: 'jobs', 'aria-live': 'polite', 'aria-relevant': 'additions text', 'data-testid': 'jobs' });
  const message = h('div');
  const creates = ctx.session.role !== 'Member';
  replace(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'My exports'),
      creates && h('a', { class: 'button primary', href: '#/new', 'data-testid': 'new-export' }, 'New export')),
    h('p', { class: 'muted' }, state), message, list);

  const jobs = new Map();
  const rows = new Map();
  const act = {
    copyLink,
    async cancel(job, button, extra) {
      button.disabled = true;
      try {
        put(await api('DELETE', `/api/export-jobs/${seg(job.id)}`));
      } catch (error) {
        replace(extra, note('error', error.message));
        button.disabled = false;
      }
    },
  };

  function put(job) {
    const old = jobs.get(job.id);
    if (!newer(job, old)) return;
    // A list item lacks the single view's extras: keep those we had.
    if (old && old.status === job.status) {
      for (const k of ['parts', 'queuePosition', 'errorHistory']) if (!known(job[k]) && known(old[k])) job[k] = old[k];
    }
    jobs.set(job.id, job);
    if (rows.has(job.id)) {
      rows.get(job.id).update(job);
      return;
    }
    const row = jobRow(job, act);
    rows.set(job.id, row);
    // Newest first: job ids are ULIDs, in creation order.
    list.insertBefore(row.row, [...list.children].find((el) => el.dataset.jobId < job.id) || null);
    showEmpty();
  }

  function remove(id) {
    jobs.delete(id);
    if (rows.has(id)) rows.get(id).row.remove();
    rows.delete(id);
    showEmpty();
  }

  function showEmpty() {
    replace(message, !jobs.size && note('info', h('p', {}, 'No exports yet.'),
      creates && h('p', {}, h('a', { href: '#/new' }, 'Create your first export'))));
  }

  // The list omits queue positions and parts: the single view has them.
  const detail = (job) => api('GET', `/api/export-jobs/${seg(job.id)}`).then(put, () => {});
  async function load() {
    const page = await api('GET', '/api/export-jobs?limit=50');
    page.items.forEach(put);
    showEmpty();
    return page.items;
  }

  try {
    const items = await load();
    items.filter((j) => j.status === 'Pending' || j.partMaxRows || j.partMaxBytes).slice(0, 20).forEach(detail);
  } catch (error) {
    state.remove();
    replace(message, error instanceof ApiError && error.status === 403
      ? note('info', h('p', { 'data-testid': 'no-jobs-for-role' }, `${error.message.replace(/^./, (c) => c.toUpperCase())}; you are signed in as a ${ctx.session.role}.`))
      : note('error', `Your exports could not be loaded: ${error.message}`));
    return null;
  }

  const stop = follow({
    onJob: put,
    onRemoved: remove,
    onState: (text) => {
      state.textContent = text;
    },
    onReady: () => load().catch(() => {}),
    poll: async () => (await load()).filter((j) => ACTIVE.has(j.status)).forEach(detail),
  });
  // ETAs move with the clock, not only with events.
  const tick = setInterval(() => jobs.forEach((job, id) => job.status === 'Processing' && rows.get(id).update(job)), 5000);
  return () => {
    stop();
    clearInterval(tick);
  };
}
