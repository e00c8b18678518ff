// Queue (SuperAdmin: every organization; Admin: their own): the load by
// organization, the last hour, and dead letters with their error history
// and a Re-drive button whose job is then followed until it ends.

import { api, seg } from '../api.js';
import { h, replace, note, count, when } from '../dom.js';
import { follow } from '../live.js';

const FINAL = new Set(['Completed', 'Failed', 'Cancelled', 'Expired']);

export async function render(main, ctx) {
  const status = h('div', { 'aria-live': 'polite' });
  const body = h('div');
  const refresh = h('button', { type: 'button', 'data-testid': 'refresh' }, 'Refresh');
  replace(main, h('div', { class: 'page-head' }, h('h1', {}, 'Queue'), refresh), status, body);
  const stops = [];
  // A re-driven dead letter keeps its card (with its live status) after it leaves the list.
  const redriven = new Map();

  function watch(job, outcome) {
    let last = job;
    let stop = null;
    const show = (j) => {
      if (j.id !== job.id || (j.updatedAt || '') < (last.updatedAt || '')) return;
      last = j;
      outcome.textContent = `Re-driven: ${j.status}${j.status === 'Failed' && j.error ? ` — ${j.error}` : ''}`;
      outcome.dataset.status = j.status;
      outcome.className = { Completed: 'outcome ok', Failed: 'outcome bad' }[j.status] || 'muted';
      if (FINAL.has(j.status) && stop) stop();
    };
    show(job);
    const poll = async () => show(await api('GET', `/api/export-jobs/${seg(job.id)}`));
    stop = follow({ jobId: job.id, onJob: show, poll, onReady: () => poll().catch(() => {}) });
    stops.push(stop);
  }

  function deadLetter(job) {
    const history = job.errorHistory || [];
    const card = h('li', { class: 'job', 'data-testid': `dead-${job.id}`, 'data-job-id': job.id },
      h('div', { class: 'job-head' }, h('h3', {}, `${job.dataType} · ${job.format}`), h('span', { class: 'badge badge-failed' }, 'Dead letter')),
      h('p', { class: 'job-meta' }, h('code', {}, job.id), ` · created ${when(job.createdAt)} by ${job.createdBy} · ${job.attempts} of ${job.maxAttempts} attempts`),
      job.error && !history.length && h('div', { class: 'job-error' }, h('strong', {}, 'Last error: '), h('span', { 'data-testid': 'dead-error' }, job.error)),
      h('details', { class: 'parts', open: true }, h('summary', {}, `Error history (${history.length})`),
        h('ol', { class: 'history', 'data-testid': 'error-history' }, history.map((e) => h('li', {},
          h('strong', {}, `Attempt ${e.attempt}`), h('span', { class: 'muted' }, ` ${when(e.at)}`), h('div', { class: 'detail' }, e.error))))));
    // Re-driving is a SuperAdmin's; an Admin sees the dead letters only.
    if (ctx.session.role === 'SuperAdmin') {
      const outcome = h('p', { class: 'muted', 'data-testid': 'redrive-status', 'aria-live': 'polite' });
      const button = h('button', { type: 'button', class: 'primary', 'aria-label': `Re-drive job ${job.id}`, 'data-testid': 'redrive' }, 'Re-drive');
      button.addEventListener('click', async () => {
        button.disabled = true;
        outcome.textContent = 'Queuing again…';
        try {
          watch(await api('POST', `/api/admin/export-jobs/${seg(job.id)}/retry`), outcome);
          redriven.set(job.id, card);
        } catch (error) {
          outcome.textContent = `Not re-driven: ${error.message}`;
          button.disabled = false;
        }
      });
      card.append(h('div', { class: 'actions' }, button, outcome));
    }
    return card;
  }

  async function load() {
    let queue;
    try {
      queue = await api('GET', '/api/admin/queue');
    } catch (error) {
      return replace(status, note('error', `The queue could not be loaded: ${error.message}`));
    }
    replace(status);
    const orgs = queue.organizations || [];
    const hour = queue.lastHour || {};
    const dead = queue.deadLetters || [];
    const left = [...redriven.keys()].filter((id) => !dead.some((j) => j.id === id)).map((id) => redriven.get(id));
    replace(body,
      h('section', { class: 'card' }, h('h2', {}, 'Last hour'), h('dl', { class: 'stats', 'data-testid': 'last-hour' },
        [['Completed', hour.completed], ['Failed', hour.failed], ['Dead-lettered', hour.deadLettered], ['Rows exported', hour.rowsExported]]
          .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, count(v)))))),
      h('section', { class: 'card' }, h('h2', {}, 'By organization'), orgs.length
        ? h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'queue-orgs' },
          h('thead', {}, h('tr', {}, ['Organization', 'Pending', 'Processing', 'Cap (at once)'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, orgs.map((o) => h('tr', {}, h('th', { scope: 'row' }, o.name || o.organizationId),
            h('td', {}, count(o.pending)), h('td', {}, count(o.processing)), h('td', {}, count(o.cap ?? queue.organizationCap)))))))
        : h('p', { class: 'muted' }, 'No organization has jobs waiting.')),
      h('section', { class: 'card' }, h('h2', {}, `Dead letters (${dead.length})`), dead.length
        ? h('ol', { class: 'jobs', 'data-testid': 'dead-letters' }, dead.map((j) => redriven.get(j.id) || deadLetter(j)))
        : h('p', { class: 'muted' }, 'No dead letters.'),
      left.length > 0 && [h('h3', { class: 'sub' }, 'Re-driven'), h('ol', { class: 'jobs', 'data-testid': 'redriven' }, left)]));
  }

  refresh.addEventListener('click', load);
  await load();
  return () => stops.forEach((stop) => stop());
}
