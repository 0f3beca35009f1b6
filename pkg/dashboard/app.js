// The usertrail dashboard's page: reads JSON from the handler (api/...),
// draws tables and Chart.js charts. Builds every element with the DOM (no
// HTML strings, so nothing an event carried can run), keeps no subject in
// the URL: the hash holds the view and its filters only.

import { segmentValue } from './segment.js';

const $ = (id) => document.getElementById(id);
const fmtNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const fmtPercent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const fmtTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const fmtSeconds = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'second', maximumFractionDigits: 1 });
const fmtMinutes = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'minute', maximumFractionDigits: 1 });
const fmtHours = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'hour', maximumFractionDigits: 1 });
const fmtMs = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'millisecond', maximumFractionDigits: 0 });

let me = null;
let refreshAudit = async () => {};
const charts = [];

/** An element: `h('td', { class: 'num' }, 'text', child)`. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** A value as the page shows it, per the column's kind, in the reader's locale. */
function show(kind, v) {
  if (v === null || v === undefined) return '–';
  switch (kind) {
    case 'number':
      return fmtNumber.format(v);
    case 'percent':
      return fmtPercent.format(v);
    case 'percent100':
      return fmtPercent.format(v / 100);
    case 'ms':
      if (v < 1000) return fmtMs.format(v);
      if (v < 60_000) return fmtSeconds.format(v / 1000);
      if (v < 3_600_000) return fmtMinutes.format(v / 60_000);
      return fmtHours.format(v / 3_600_000);
    case 'time':
      return fmtTime.format(new Date(v));
    default:
      return String(v);
  }
}

async function api(path, body) {
  const init = body === undefined ? { method: 'GET' } : { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me?.csrf ?? '' }, body: JSON.stringify(body) };
  const res = await fetch(`api/${path}`, { ...init, credentials: 'same-origin' });
  if (!res.ok) {
    const e = await res.json().catch(() => ({}));
    const err = new Error(e?.error?.message ?? `HTTP ${res.status}`);
    err.code = e?.error?.code;
    err.status = res.status;
    throw err;
  }
  return res;
}

// ---- The URL's hash: #/<view>?from=YYYY-MM-DD&to=...&prop=...&val=...

function state() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  return { view: path || 'traffic', q: new URLSearchParams(query) };
}

function go(view, q) {
  const s = q.toString();
  location.hash = `#/${view}${s ? `?${s}` : ''}`;
}

const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
const startOf = (text) => {
  const [y, m, d] = text.split('-').map(Number);
  return new Date(y, m - 1, d).getTime();
};

/** The view's parameters for the handler, from the hash. */
function params(view, q) {
  const p = { timezone: -new Date().getTimezoneOffset() };
  const to = q.get('to') ?? day(new Date());
  const from = q.get('from') ?? day(new Date(Date.now() - 29 * 864e5));
  if (view !== 'realtime') {
    p.since = startOf(from);
    p.until = startOf(to) + 864e5;
  }
  if (q.get('prop') && q.get('val')) {
    const raw = q.get('val');
    const prop = q.get('prop');
    p.segment = { property: prop, equals: segmentValue(prop, raw) };
  }
  if (view === 'traffic' && q.get('interval')) p.interval = q.get('interval');
  if (view === 'funnel' && q.get('steps')) p.steps = q.get('steps').split(',').map((s) => s.trim()).filter(Boolean);
  if (view === 'funnel' && q.get('window')) p.windowSecs = Number(q.get('window'));
  if (view === 'retention') {
    if (q.get('cohort')) p.cohort = q.get('cohort');
    if (q.get('periods')) p.periods = Number(q.get('periods'));
  }
  if (view === 'experiments' && q.get('goal')) p.goal = q.get('goal');
  return { p, from, to };
}

// ---- Rendering

function field(id, label, input) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

function filters(view, q, from, to) {
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' });
  const out = new URLSearchParams(q);
  const input = (id, name, label, attrs) => field(id, label, h('input', { id, name, ...attrs }));
  if (view !== 'realtime') {
    form.append(
      input('f-from', 'from', 'From', { type: 'date', value: from }),
      input('f-to', 'to', 'To', { type: 'date', value: to }),
      h(
        'div',
        { class: 'presets', role: 'group', 'aria-label': 'Quick ranges' },
        [7, 30, 90].map((n) =>
          h('button', { type: 'button', class: 'secondary', on: { click: () => {
            out.set('from', day(new Date(Date.now() - (n - 1) * 864e5)));
            out.set('to', day(new Date()));
            go(view, out);
          } } }, `${n} days`),
        ),
      ),
    );
  }
  form.append(
    input('f-prop', 'prop', 'Segment: users whose first event has', { type: 'text', value: q.get('prop') ?? '', placeholder: 'e.g. properties.plan', autocomplete: 'off' }),
    input('f-val', 'val', 'equals', { type: 'text', value: q.get('val') ?? '', placeholder: 'e.g. pro', autocomplete: 'off' }),
  );
  const select = (id, name, label, options, value) =>
    field(id, label, h('select', { id, name }, options.map((o) => h('option', { value: o, selected: o === value }, o))));
  if (view === 'traffic') form.append(select('f-interval', 'interval', 'Interval', ['day', 'week', 'month'], q.get('interval') ?? 'day'));
  if (view === 'funnel') {
    form.append(
      input('f-steps', 'steps', 'Steps (event names, comma-separated)', { type: 'text', value: q.get('steps') ?? '', placeholder: 'product_view, add_to_cart, purchase', class: 'wide', autocomplete: 'off' }),
      input('f-window', 'window', 'Window (seconds)', { type: 'number', min: 1, value: q.get('window') ?? '86400' }),
    );
  }
  if (view === 'retention') {
    form.append(select('f-cohort', 'cohort', 'Cohort', ['day', 'week', 'month'], q.get('cohort') ?? 'week'), input('f-periods', 'periods', 'Periods', { type: 'number', min: 1, max: 52, value: q.get('periods') ?? '8' }));
  }
  if (view === 'experiments') form.append(input('f-goal', 'goal', 'Goal event', { type: 'text', value: q.get('goal') ?? '', placeholder: 'purchase', autocomplete: 'off' }));
  form.append(h('button', { type: 'submit' }, 'Apply'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim() !== '') next.set(k, String(v).trim());
    go(view, next);
  });
  return form;
}

function tableOf(t, view, p) {
  const download = h('button', { type: 'button', class: 'secondary', on: { click: () => csv(view, p, t.id) } }, 'CSV');
  download.setAttribute('aria-label', `Download ${t.title} as CSV`);
  const heat = t.columns.some((c) => c.kind === 'percent100') && view === 'retention';
  const table = h(
    'table',
    { 'data-table': t.id },
    h('caption', { class: 'sr-only' }, t.title),
    h('thead', {}, h('tr', {}, t.columns.map((c) => h('th', { scope: 'col', class: c.kind === 'text' || c.kind === 'time' ? null : 'num' }, c.label)))),
    h(
      'tbody',
      {},
      t.rows.length === 0
        ? h('tr', {}, h('td', { colspan: t.columns.length }, 'Nothing to show for these filters.'))
        : t.rows.map((r) =>
            h('tr', {}, r.map((v, i) => {
              const c = t.columns[i];
              const cls = [c.kind === 'text' || c.kind === 'time' ? null : 'num', heat && c.kind === 'percent100' && v !== null ? `heat-${Math.min(9, Math.floor(v / 10))}` : null].filter(Boolean).join(' ');
              return h(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : null, class: cls || null, 'data-key': c.key, 'data-value': JSON.stringify(v) }, show(c.kind, v));
            })),
          ),
    ),
  );
  return h('section', { class: 'card wide', 'aria-label': t.title }, h('header', {}, h('h3', {}, t.title), download), h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': `${t.title} table` }, table));
}

function chartCard(title, type, labels, datasets, describe) {
  const canvas = h('canvas', { role: 'img', 'aria-label': describe });
  const card = h('section', { class: 'card wide', 'aria-label': `${title} (chart)` }, h('h3', {}, title), h('div', { class: 'chart' }, canvas));
  if (typeof window.Chart === 'function') {
    charts.push(new window.Chart(canvas, {
      type,
      data: { labels, datasets: datasets.map((d, i) => ({ borderColor: ['#0b5cad', '#c2410c', '#15803d'][i % 3], backgroundColor: ['#0b5cad99', '#c2410c99', '#15803d99'][i % 3], ...d })) },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: datasets.length > 1 } }, scales: { y: { beginAtZero: true, ticks: { callback: (v) => fmtNumber.format(v) } } } },
    }));
  }
  return card;
}

/** The headline numbers of the traffic view, as tiles. */
function tiles(view, v) {
  if (view !== 'traffic') return null;
  const s = v.answers.summary;
  const st = v.answers.activeUsers.stickiness;
  const tile = (label, key, kind, value) => h('div', { class: 'tile' }, h('p', { class: 'tile-label' }, label), h('p', { class: 'tile-value', 'data-key': key, 'data-value': JSON.stringify(value) }, show(kind, value)));
  return h(
    'section',
    { class: 'tiles wide', 'aria-label': 'Headline numbers', 'data-table': 'tiles' },
    tile('Events', 'events', 'number', s.events),
    tile('Users', 'users', 'number', s.users),
    tile('Sessions', 'sessions', 'number', s.sessions),
    tile('DAU / MAU', 'ratio', 'percent', st.ratio),
  );
}

/** The charts of a view, from its answers. */
function chartsOf(view, a) {
  const out = [];
  if (view === 'traffic' && a.activeUsers?.buckets.length) {
    const b = a.activeUsers.buckets;
    out.push(chartCard(`Active users per ${a.activeUsers.interval}`, 'line', b.map((x) => x.label), [{ label: 'Users', data: b.map((x) => x.users), fill: false }], `Line chart of active users per ${a.activeUsers.interval}; the table below has the numbers.`));
  }
  if (view === 'pages' && a.topPages?.pages.length) {
    const p = a.topPages.pages.slice(0, 10);
    out.push(chartCard('Views of the top pages', 'bar', p.map((x) => x.path), [{ label: 'Views', data: p.map((x) => x.views) }], 'Bar chart of views per page; the table below has the numbers.'));
  }
  if (view === 'events' && a.eventBreakdown?.rows.length) {
    const r = a.eventBreakdown.rows.slice(0, 10);
    out.push(chartCard('Events by name', 'bar', r.map((x) => String(x.value)), [{ label: 'Events', data: r.map((x) => x.events) }], 'Bar chart of events per name; the table below has the numbers.'));
  }
  if (view === 'funnel' && a.funnel) {
    out.push(chartCard('Users per step', 'bar', a.funnel.steps.map((s) => s.name), [{ label: 'Users', data: a.funnel.steps.map((s) => s.count) }], 'Bar chart of users reaching each funnel step; the table below has the numbers.'));
  }
  if (view === 'sessions' && a.sessionDurations?.histogram.length) {
    const hg = a.sessionDurations.histogram;
    out.push(chartCard('Sessions by duration', 'bar', hg.map((x) => `${show('ms', x.minMs)}–${x.maxMs === null ? '' : show('ms', x.maxMs)}`), [{ label: 'Sessions', data: hg.map((x) => x.sessions) }], 'Histogram of session durations; the table below has the numbers.'));
  }
  if (view === 'realtime' && a.realtime?.perMinute.length) {
    const m = a.realtime.perMinute;
    out.push(chartCard('Events per minute', 'bar', m.map((x) => new Date(x.start).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })), [{ label: 'Events', data: m.map((x) => x.events) }], 'Bar chart of events per minute; the table below has the numbers.'));
  }
  return out;
}

async function csv(view, p, table) {
  const res = await api('csv', { view, params: p, table });
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: `${view}-${table}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function clearCharts() {
  while (charts.length) charts.pop().destroy();
}

async function renderView(view, q) {
  const root = $('view');
  const { p, from, to } = params(view, q);
  const title = me.views.find((v) => v.id === view)?.title ?? view;
  root.replaceChildren(h('h2', {}, title), filters(view, q, from, to), h('p', { role: 'status' }, 'Loading…'));
  try {
    const v = await (await api('view', { view, params: p })).json();
    clearCharts();
    root.replaceChildren(h('h2', {}, title), filters(view, q, from, to));
    root.dataset.queries = JSON.stringify(v.queries);
    if (v.note) root.append(h('p', { class: 'note', role: 'status' }, v.note));
    root.append(h('div', { class: 'grid' }, tiles(view, v), chartsOf(view, v.answers), v.tables.map((t) => tableOf(t, view, p))));
  } catch (err) {
    root.replaceChildren(h('h2', {}, title), filters(view, q, from, to), h('p', { class: 'error', role: 'alert' }, `Could not load this view: ${err.message}`));
  }
  root.dataset.ready = view;
}

// ---- Privacy

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function simpleTable(title, columns, rows) {
  return tableOf({ id: title, title, columns: columns.map(([key, label, kind]) => ({ key, label, kind })), rows }, 'privacy', {}).querySelector('.scroll');
}

function card(title, ...children) {
  return h('section', { class: 'card wide', 'aria-label': title }, h('h3', {}, title), ...children);
}

async function renderPrivacy() {
  const root = $('view');
  clearCharts();
  root.replaceChildren(h('h2', {}, 'Privacy'), h('p', { role: 'status' }, 'Loading…'));
  let o;
  try {
    o = await (await api('privacy', {})).json();
  } catch (err) {
    root.replaceChildren(h('h2', {}, 'Privacy'), h('p', { class: 'error', role: 'alert' }, `Could not load: ${err.message}`));
    root.dataset.ready = 'privacy';
    return;
  }
  const wrap = h('div', { class: 'grid privacy' });
  root.replaceChildren(h('h2', {}, 'Privacy'), wrap);
  if (!o.available) {
    wrap.append(h('p', { class: 'note' }, o.note));
    root.dataset.ready = 'privacy';
    return;
  }
  // Look a subject up, export, erase: the subject goes in POST bodies only.
  const result = h('div', { 'aria-live': 'polite' });
  const subject = h('input', { id: 'p-subject', name: 'subject', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const format = h('select', { id: 'p-format', name: 'format' }, ['json', 'ndjson', 'csv', 'sqlite'].map((f) => h('option', { value: f }, f)));
  const lookupForm = h('form', { 'aria-label': 'Look a subject up' }, field('p-subject', 'Subject (user id or anonymous id)', subject), h('button', { type: 'submit' }, 'Look up'), field('p-format', 'Export format', format), h('button', { type: 'button', class: 'secondary', id: 'p-export' }, 'Export'));
  lookupForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    result.replaceChildren(h('p', { role: 'status' }, 'Looking up…'));
    try {
      const r = await (await api('privacy/lookup', { subject: subject.value })).json();
      const rows = Object.entries(r.counts).map(([t, n]) => [t, n]);
      result.replaceChildren(
        facts([['Linked ids', show('number', r.ids)], ['Rows held', show('number', rows.reduce((s, [, n]) => s + n, 0))]]),
        simpleTable('Rows per table', [['table', 'Table', 'text'], ['rows', 'Rows', 'number']], rows),
        r.places ? simpleTable('Places', [['label', 'Place', 'text'], ['included', 'Answered', 'text'], ['durable', 'Durable', 'text']], r.places.map((pl) => [pl.label + (pl.this ? ' (this engine)' : ''), pl.included ? 'yes' : 'no', pl.durable ? 'yes' : 'no'])) : h('p', {}, 'One place: this engine.'),
        simpleTable('Consent', [['purpose', 'Purpose', 'text'], ['granted', 'Granted', 'text'], ['version', 'Policy version', 'text']], Object.entries(r.consent.purposes ?? {}).map(([k, v]) => [k, v?.granted ? 'yes' : 'no', v?.policyVersion ?? '–'])),
      );
      await refreshAudit();
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  });
  lookupForm.querySelector('#p-export').addEventListener('click', async () => {
    if (!subject.value) return subject.reportValidity();
    try {
      const res = await api('privacy/export', { subject: subject.value, format: format.value });
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'export';
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      result.replaceChildren(h('p', { class: 'ok', role: 'status' }, `Exported as ${name}.`));
      await refreshAudit();
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  });
  wrap.append(card('Look up and export a subject', lookupForm, result));

  const eSubject = h('input', { id: 'e-subject', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const eConfirm = h('input', { id: 'e-confirm', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const eReason = h('input', { id: 'e-reason', type: 'text', maxlength: 1000, placeholder: 'user request', autocomplete: 'off' });
  const eSure = h('input', { id: 'e-sure', type: 'checkbox', required: true });
  const eResult = h('div', { 'aria-live': 'polite' });
  const eraseForm = h('form', { 'aria-label': 'Erase a subject' }, field('e-subject', 'Subject to erase', eSubject), field('e-confirm', 'Type it again', eConfirm), field('e-reason', 'Reason (for the audit log)', eReason), h('div', { class: 'check' }, eSure, h('label', { for: 'e-sure' }, 'Erasure cannot be undone')), h('button', { type: 'submit', class: 'danger' }, 'Erase'));
  eraseForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (eSubject.value !== eConfirm.value) {
      eResult.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'The two entries differ.'));
      return;
    }
    eResult.replaceChildren(h('p', { role: 'status' }, 'Erasing…'));
    try {
      const r = await (await api('privacy/erase', { subject: eSubject.value, confirm: eConfirm.value, reason: eReason.value })).json();
      const total = Object.values(r.counts).reduce((s, n) => s + n, 0);
      const parts = [h('p', { class: 'ok', role: 'status' }, `Erased ${show('number', total)} rows.`), simpleTable('Erased rows per table', [['table', 'Table', 'text'], ['rows', 'Rows', 'number']], Object.entries(r.counts))];
      if (r.receipt) {
        parts.push(
          facts([['Receipt', r.receipt.id], ['Complete', r.receipt.complete ? 'yes: every place applied it' : 'not yet: places still to apply it are listed']]),
          simpleTable('Receipt per place', [['label', 'Place', 'text'], ['applied', 'Applied', 'text'], ['live', 'Live', 'text']], r.receipt.places.map((pl) => [pl.label, pl.applied ? 'yes' : 'no', pl.live ? 'yes' : 'no'])),
        );
      }
      eResult.replaceChildren(...parts);
      eraseForm.reset();
      await refreshAudit();
    } catch (err) {
      eResult.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  });
  if (me.readOnly) wrap.append(card('Erase a subject', h('p', {}, 'This dashboard is read-only: erase through the app that holds the data.')));
  else wrap.append(card('Erase a subject', eraseForm, eResult));

  const vResult = h('div', { 'aria-live': 'polite' });
  const verifyButton = h('button', { type: 'button', id: 'p-verify' }, 'Verify the chains');
  verifyButton.addEventListener('click', async () => {
    vResult.replaceChildren(h('p', { role: 'status' }, 'Verifying…'));
    try {
      const r = await (await api('privacy/verify', {})).json();
      const line = (name, rep) => (rep ? h('p', { class: rep.ok ? 'ok' : 'error' }, `${name}: ${rep.ok ? 'intact' : `${rep.problems.length} problem(s)`} (${show('number', rep.checked ?? rep.entries ?? 0)} checked)`) : null);
      vResult.replaceChildren(...[line('Audit log', r.audit), line('Consent ledger', r.ledger), r.ledgerNote ? h('p', {}, r.ledgerNote) : null].filter(Boolean));
    } catch (err) {
      vResult.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }
  });
  wrap.append(card('Ledger and audit chains', verifyButton, vResult));

  wrap.append(
    card(
      'Retention',
      simpleTable('Retention policy', [['category', 'Category', 'text'], ['kept', 'Kept for', 'text']], Object.entries(o.retention).map(([k, v]) => [k, v === null ? 'forever' : v === '0h' ? 'not kept (deleted when done)' : v])),
      facts([['Last run', o.schedule.lastRun === null ? 'not since this engine opened' : show('time', o.schedule.lastRun)], ['Next run', `${show('time', o.schedule.nextRun)} (at the first write from then on)`], ['Events dropped for want of consent', show('number', o.droppedWithoutConsent)]]),
    ),
    card(
      'Consent rates',
      o.consentRates
        ? o.consentRates.length
          ? simpleTable('Consent per purpose and policy version', [['purpose', 'Purpose', 'text'], ['version', 'Policy version', 'text'], ['granted', 'Granted', 'number'], ['refused', 'Refused', 'number'], ['rate', 'Rate', 'percent']], o.consentRates.map((r) => [r.purpose, r.policyVersion, r.granted, r.refused, r.rate]))
          : h('p', {}, 'No consent decisions yet: they appear once subjects grant or withdraw (trail.privacy.grant).')
        : h('p', { class: 'note' }, o.consentNote),
    ),
  );
  if (o.places.length) {
    wrap.append(card('Places sharing the store', simpleTable('Places', [['label', 'Place', 'text'], ['durable', 'Durable', 'text'], ['live', 'Live', 'text'], ['lastSeen', 'Last seen', 'time']], o.places.map((pl) => [pl.label + (pl.this ? ' (this engine)' : ''), pl.durable ? 'yes' : 'no', pl.live ? 'yes' : 'no', pl.lastSeen]))));
  }
  const auditCard = (entries) => card('Recent audit entries', entries.length ? simpleTable('Audit log, newest first', [['seq', 'Entry', 'number'], ['at', 'When', 'time'], ['actor', 'Who', 'text'], ['action', 'What', 'text']], entries.map((a) => [a.seq, a.at, a.actor, a.action])) : h('p', {}, 'Nothing audited yet.'));
  let audit = auditCard(o.audit);
  wrap.append(audit);
  // After an action, the audit log shows it.
  refreshAudit = async () => {
    const fresh = await (await api('privacy', {})).json();
    const next = auditCard(fresh.audit);
    audit.replaceWith(next);
    audit = next;
  };
  root.dataset.ready = 'privacy';
}

// ---- Navigation and sign-in

function renderNav(view) {
  const nav = $('nav');
  const items = [...me.views, ...(me.privacy ? [{ id: 'privacy', title: 'Privacy' }] : [])];
  nav.replaceChildren(...items.map((v) => h('a', { href: `#/${v.id}`, 'aria-current': v.id === view ? 'page' : null }, v.title)));
  nav.hidden = false;
}

async function route() {
  const { view, q } = state();
  delete $('view').dataset.ready;
  renderNav(view);
  document.title = `${me.title} dashboard`;
  if (view === 'privacy') await renderPrivacy();
  else await renderView(me.views.some((v) => v.id === view) ? view : 'traffic', q);
}

async function start() {
  // A key in the fragment (what `usertrail dashboard` prints) signs in, then leaves the address bar.
  const fromHash = /(?:^#|&)key=([^&]+)/.exec(location.hash)?.[1];
  if (fromHash) {
    history.replaceState(null, '', location.pathname + location.search);
    await fetch('api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: decodeURIComponent(fromHash) }) }).catch(() => {});
  }
  const res = await fetch('api/me', { credentials: 'same-origin' });
  if (res.status === 401) {
    $('login').hidden = false;
    $('login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await fetch('api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: $('key').value }) });
      if (r.ok) location.reload();
      else $('login-error').textContent = (await r.json().catch(() => ({})))?.error?.message ?? 'Could not sign in.';
    });
    document.body.dataset.ready = 'login';
    return;
  }
  me = await res.json();
  if (me.notice) $('content').prepend(h('p', { class: 'note banner', role: 'status' }, me.notice));
  $('who').textContent = `Signed in as ${me.operator}${me.source === 'partitions' ? ' · merged partitions' : ''}`;
  $('who').hidden = false;
  if (me.via === 'cookie') {
    $('logout').hidden = false;
    $('logout').addEventListener('click', async () => {
      await api('logout', {}).catch(() => {});
      location.reload();
    });
  }
  window.addEventListener('hashchange', route);
  await route();
  document.body.dataset.ready = 'app';
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
