// Health (SuperAdmin): readiness of the database, the blob store and the workers.

import { api } from '../api.js';
import { h, replace, note, when } from '../dom.js';

const PARTS = [
  ['database', 'Database'],
  ['blobStore', 'Blob store'],
  ['workers', 'Workers'],
];

export async function render(main) {
  const body = h('div', { class: 'health', 'aria-live': 'polite' });
  const checked = h('p', { class: 'muted' });
  const refresh = h('button', { type: 'button', 'data-testid': 'refresh' }, 'Check again');
  replace(main, h('div', { class: 'page-head' }, h('h1', {}, 'Health'), refresh), checked, body);

  async function load() {
    try {
      const health = await api('GET', '/api/admin/health');
      replace(body, PARTS.map(([key, label]) => {
        const part = health[key] || {};
        const ready = part.ready === true;
        return h('section', { class: `card ${ready ? 'ok' : 'down'}`, 'data-testid': `health-${key}`, 'data-ready': String(ready) },
          h('h2', {}, label),
          h('p', { class: 'health-state' }, h('span', { class: `badge ${ready ? 'badge-completed' : 'badge-failed'}` }, ready ? 'Ready' : 'Not ready'),
            key === 'workers' && part.count !== undefined ? h('span', { class: 'muted' }, ` ${part.count} running`) : null),
          part.detail ? h('p', {}, part.detail) : null);
      }));
      checked.textContent = `Checked ${when(new Date().toISOString())}.`;
    } catch (error) {
      replace(body, note('error', `Health could not be read: ${error.message}`));
    }
  }
  refresh.addEventListener('click', load);
  await load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
