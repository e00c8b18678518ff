// Building DOM without HTML strings: every value from data becomes a text
// node, so markup in a plugin's description or a job's error stays text.

/**
 * h('button', {class: 'primary', onclick: fn, 'data-testid': 'x'}, 'Label', child)
 * `on*` functions become listeners; false/null/undefined attributes and
 * children are left out; children may be strings, nodes or arrays.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (['value', 'checked', 'disabled'].includes(name)) el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  return add(el, children);
}

function add(el, children) {
  for (const child of children) {
    if (Array.isArray(child)) add(el, child);
    else if (child instanceof Node) el.append(child);
    else if (child !== null && child !== undefined && child !== false) el.append(String(child));
  }
  return el;
}

/** Replaces an element's children. */
export const replace = (el, ...children) => add((el.replaceChildren(), el), children);

let ids = 0;
export const uid = (prefix) => `${prefix}-${(ids += 1)}`;

/** A labelled control with its hint and a place for its error. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const error = h('p', { class: 'field-error', id: `${control.id}-error`, role: 'alert', hidden: true });
  const hintEl = hint && h('p', { class: 'hint', id: `${control.id}-hint` }, hint);
  control.setAttribute('aria-describedby', `${hint ? `${hintEl.id} ` : ''}${error.id}`);
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl, error);
  return Object.assign(wrap, { control, error });
}

/** Shows (or clears, with null) the error of a `field` (or of anything with `error` and `control`). */
export function setFieldError(target, message) {
  target.error.textContent = message || '';
  target.error.hidden = !message;
  target.control.setAttribute('aria-invalid', String(!!message));
}

export const option = (value, label, selected) => h('option', { value, selected: !!selected }, label);

/** A message box: kind is info, error or success. */
export const note = (kind, ...children) => h('div', { class: `note note-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);

export function bytes(n) {
  let value = Number(n || 0);
  let unit = 0;
  for (; value >= 1024 && unit < 4; unit += 1) value /= 1024;
  return `${unit ? value.toFixed(1) : value} ${['B', 'KB', 'MB', 'GB', 'TB'][unit]}`;
}

export const count = (n) => Number(n || 0).toLocaleString('en-US');

/** An RFC 3339 instant, or µs since the epoch, as a local date and time. */
export function when(value) {
  if (value === null || value === undefined || value === '') return '';
  const date = new Date(typeof value === 'number' ? value / 1000 : value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function duration(s) {
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
