// New export: a form built from the catalog (GET /api/datasets) and from
// each format plugin's own info() (GET /api/formats), so a third-party
// plugin's options get a usable form with no change here.

import { api, ApiError } from '../api.js';
import { h, replace, field, setFieldError, option, note, uid } from '../dom.js';

const OPERATORS = { eq: 'equals', in: 'is one of', gt: 'greater than / after', gte: 'at least / from', lt: 'less than / before', lte: 'at most / until' };

/** A control for one option a format declares, by its type. */
function optionField(spec) {
  const attrs = { name: `option-${spec.name}`, 'data-testid': `option-${spec.name}` };
  const control = {
    boolean: () => h('input', { type: 'checkbox', checked: spec.default === 'true', ...attrs }),
    choice: () => h('select', attrs, spec.choices.map((c) => option(c, c, c === spec.default))),
    integer: () => h('input', { type: 'number', step: 1, value: spec.default, ...attrs }),
    character: () => h('input', { type: 'text', value: spec.default, class: 'narrow', ...attrs }),
  }[spec.type]?.() || h('input', { type: 'text', value: spec.default, ...attrs });
  const wrap = field(spec.name, control, spec.description);
  if (spec.type === 'boolean') wrap.classList.add('field-check');
  wrap.spec = spec;
  wrap.read = () => (spec.type === 'boolean' ? String(control.checked) : control.value);
  return wrap;
}

/** A filter value as JSON: numbers and booleans as themselves for such columns. */
function typed(text, kind) {
  const value = text.trim();
  if (kind === 'boolean' && /^(true|false)$/.test(value)) return value === 'true';
  if (/^(int64|float64)$/.test(kind) && value !== '' && Number.isFinite(Number(value))) return Number(value);
  return value;
}

/** A field-like target for errors of a group (columns, filters, options). */
const group = (control) => ({ control, error: h('p', { class: 'field-error', role: 'alert', hidden: true }) });

export async function render(main, ctx) {
  replace(main, h('h1', {}, 'New export'), h('p', { class: 'muted' }, 'Loading datasets and formats…'));
  let datasets;
  let formats;
  try {
    [datasets, formats] = await Promise.all([api('GET', '/api/datasets'), api('GET', '/api/formats')]);
  } catch (error) {
    return replace(main, h('h1', {}, 'New export'), note('error', `The form could not be loaded: ${error.message}`));
  }
  if (!datasets.length) return replace(main, h('h1', {}, 'New export'), note('info', 'There is no dataset your role may export.'));

  const top = h('div', { 'aria-live': 'polite' });
  const datasetSelect = h('select', { 'data-testid': 'dataset' }, datasets.map((d) => option(d.name, d.name)));
  const datasetField = field('Dataset', datasetSelect);
  const about = h('p', { class: 'hint' });
  datasetField.insertBefore(about, datasetField.error);

  const columns = group(h('ul', { class: 'columns', 'data-testid': 'columns' }));
  const from = h('input', { type: 'date', 'data-testid': 'date-from' });
  const to = h('input', { type: 'date', 'data-testid': 'date-to' });
  const fromField = field('From (inclusive)', from);
  const toField = field('To (inclusive)', to);
  const rangeHint = h('p', { class: 'hint' });
  const filters = group(h('ul', { class: 'filters' }));
  const addFilter = h('button', { type: 'button', 'data-testid': 'add-filter' }, 'Add a filter');
  const filtersSet = h('fieldset', { class: 'group' }, h('legend', {}, 'Filters'),
    h('p', { class: 'hint' }, 'Only rows matching every filter are exported. For “is one of”, separate values with commas.'),
    filters.control, addFilter, filters.error);
  const formatSelect = h('select', { 'data-testid': 'format' },
    formats.map((f) => option(f.name, `${f.name} — ${f.description}`, f.name === 'csv')));
  const formatField = field('Format', formatSelect);
  const options = group(h('div', { class: 'options', 'data-testid': 'format-options' }));
  const compression = h('select', { 'data-testid': 'compression' }, option('', 'None'), option('gzip', 'gzip (.gz)'), option('zstd', 'zstd (.zst)'));
  const compressionField = field('Compression', compression);
  const parts = h('input', { type: 'number', min: 1, step: 1, 'data-testid': 'part-max-rows' });
  const partsField = field('Rows per part', parts, 'Empty: one file. Otherwise files of at most this many rows, with a manifest.');
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'create-export' }, 'Create export');
  const form = h('form', { class: 'export-form', novalidate: true }, top, datasetField,
    h('fieldset', { class: 'group' }, h('legend', {}, 'Columns'),
      h('p', { class: 'hint' }, 'Tick the columns to export and put them in order. None ticked: every column.'), columns.control, columns.error),
    h('fieldset', { class: 'group' }, h('legend', {}, 'Date range'), rangeHint, h('div', { class: 'row' }, fromField, toField)),
    filtersSet,
    h('fieldset', { class: 'group' }, h('legend', {}, 'Format'), formatField, h('h3', { class: 'sub' }, 'Format options'), options.control, options.error),
    h('fieldset', { class: 'group' }, h('legend', {}, 'File'), h('div', { class: 'row' }, compressionField, partsField)),
    h('div', { class: 'actions' }, submit, h('a', { class: 'button', href: '#/exports' }, 'Cancel')));
  replace(main, h('h1', {}, 'New export'), form);

  let dataset = null;
  let optionFields = [];
  const filterable = () => dataset.columns.filter((c) => c.filter && c.filter.length);

  function columnItem(column) {
    const box = h('input', { type: 'checkbox', value: column.name, id: uid('col'), 'data-testid': `column-${column.name}` });
    const item = h('li', { 'data-column': column.name }, box,
      h('label', { for: box.id }, column.label, column.label.toLowerCase().replace(/ /g, '_') !== column.name && h('span', { class: 'muted' }, ` ${column.name}`),
        column.masked && h('span', { class: 'tag' }, `masked: ${column.masked}`)));
    const move = (arrow, way, up) => {
      const b = h('button', { type: 'button', class: 'icon', 'aria-label': `Move ${column.label} ${way}`, 'data-testid': `${way}-${column.name}` }, arrow);
      b.addEventListener('click', () => {
        const other = up ? item.previousElementSibling : item.nextElementSibling;
        if (other) item.parentNode.insertBefore(up ? item : other, up ? other : item);
        b.focus();
      });
      return b;
    };
    item.append(h('span', { class: 'move' }, move('↑', 'up', true), move('↓', 'down', false)));
    return item;
  }

  function filterRow() {
    const n = filters.control.children.length + 1;
    const column = h('select', { 'data-testid': `filter-column-${n}` }, filterable().map((c) => option(c.name, c.label)));
    const op = h('select', { 'data-testid': `filter-op-${n}` });
    const value = h('input', { type: 'text', 'data-testid': `filter-value-${n}` });
    const remove = h('button', { type: 'button', class: 'icon', 'aria-label': `Remove filter ${n}` }, '×');
    const spec = () => filterable().find((c) => c.name === column.value) || {};
    const sync = () => {
      replace(op, (spec().filter || []).map((o) => option(o, OPERATORS[o] || o)));
      value.type = spec().type === 'date' ? 'date' : 'text';
    };
    column.addEventListener('change', sync);
    sync();
    const row = h('li', { class: 'filter-row' }, field(`Filter ${n}: column`, column), field('Comparison', op), field('Value', value), remove);
    row.read = () => ({ column: column.value, op: op.value, value: value.value, kind: spec().type });
    remove.addEventListener('click', () => {
      row.remove();
      addFilter.focus();
    });
    return row;
  }

  function showDataset() {
    dataset = datasets.find((d) => d.name === datasetSelect.value);
    about.textContent = dataset.description || '';
    replace(columns.control, dataset.columns.map(columnItem));
    from.disabled = to.disabled = !dataset.rangeColumn;
    rangeHint.textContent = dataset.rangeColumn
      ? `Whole days, on the column ${dataset.rangeColumn}. Leave empty for no bound.`
      : 'This dataset has no date column: it is exported whole.';
    replace(filters.control);
    filtersSet.hidden = !filterable().length;
  }

  function showFormat() {
    const format = formats.find((f) => f.name === formatSelect.value);
    optionFields = (format ? format.options : []).map(optionField);
    replace(options.control, optionFields.length ? optionFields : h('p', { class: 'hint' }, 'This format has no options.'));
  }

  datasetSelect.addEventListener('change', showDataset);
  formatSelect.addEventListener('change', showFormat);
  addFilter.addEventListener('click', () => {
    const row = filterRow();
    filters.control.append(row);
    row.querySelector('select').focus();
  });
  showDataset();
  showFormat();

  /** The field a problem's sentence names (the API puts the field's path first, or quotes it). */
  function target(detail, kind) {
    const named = /option "([^"]+)"/.exec(detail);
    const option = named && optionFields.find((f) => f.spec.name === named[1]);
    if (option) return option;
    const rules = [
      [/dateRange\.from|no date column/, fromField], [/dateRange\.to|date range ends before/, toField],
      [/filters|filtered/, filters], [/^`?columns|column "[^"]+" is listed twice|unknown column/, columns],
      [/partMaxRows/, partsField], [/compression/, compressionField], [/^`?dataType/, datasetField],
      [/^`?format\b/, formatField], [/option/, options],
    ];
    const rule = rules.find(([re]) => re.test(detail));
    if (rule) return rule[1];
    return { 'unknown-dataset': datasetField, 'unknown-format': formatField, 'invalid-options': options }[kind] || null;
  }

  function request() {
    const body = { dataType: dataset.name, format: formatSelect.value };
    const picked = [...columns.control.querySelectorAll('input:checked')].map((c) => c.value);
    if (picked.length) body.columns = picked;
    if (dataset.rangeColumn && (from.value || to.value)) {
      body.dateRange = { ...(from.value && { from: from.value }), ...(to.value && { to: to.value }) };
    }
    const byColumn = {};
    for (const row of filters.control.children) {
      const f = row.read();
      if (!f.column || !f.value.trim()) continue;
      byColumn[f.column] = { ...byColumn[f.column],
        [f.op]: f.op === 'in' ? f.value.split(',').map((v) => typed(v, f.kind)).filter((v) => v !== '') : typed(f.value, f.kind) };
    }
    if (Object.keys(byColumn).length) body.filters = { columns: byColumn };
    // Only what differs from the plugin's defaults: the job records what was asked.
    const chosen = Object.fromEntries(optionFields.filter((f) => f.read() !== f.spec.default).map((f) => [f.spec.name, f.read()]));
    if (Object.keys(chosen).length) body.options = chosen;
    if (compression.value) body.compression = compression.value;
    if (parts.value !== '') body.partMaxRows = Number(parts.value);
    return body;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const f of [datasetField, columns, fromField, toField, filters, formatField, options, compressionField, partsField, ...optionFields]) setFieldError(f, null);
    replace(top);
    if (parts.value !== '' && !(Number.isInteger(Number(parts.value)) && Number(parts.value) >= 1)) {
      setFieldError(partsField, 'Rows per part must be a whole number of at least 1.');
      return parts.focus();
    }
    submit.disabled = true;
    try {
      await api('POST', '/api/export-jobs', request());
      ctx.navigate('/exports');
    } catch (error) {
      submit.disabled = false;
      const at = error instanceof ApiError && target(error.message, error.kind);
      if (at) {
        setFieldError(at, error.message);
        at.control.focus();
        replace(top, note('error', 'The export was not created: see the message next to the field.'));
      } else {
        replace(top, note('error', h('span', { 'data-testid': 'form-error' }, error.message)));
        top.scrollIntoView({ block: 'nearest' });
      }
    }
  });
  return null;
}
