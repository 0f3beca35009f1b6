// The dashboard: every number and chart is computed in this browser by
// trail.analytics and trail.experiments, from the local database, and
// refreshed while it is open (every 2 s, or less often when a refresh is slow).
import { h, num, duration } from './dom.js';
import { t } from './i18n.js';
import { EXPERIMENT, FUNNEL, engineOptions } from './config.js';

const DAY = 86_400_000;
const REFRESH_MS = 2000;

/** The query range: the last 90 days, in the visitor's time zone. */
function range() {
  const timezone = -new Date().getTimezoneOffset();
  const until = Date.now() + 1;
  const startOfToday = Math.floor((until + timezone * 60_000) / DAY) * DAY - timezone * 60_000;
  return { since: startOfToday - 89 * DAY, until, timezone };
}

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export function dashboardView(app) {
  const charts = {};
  const tile = (id, label) => h('div', { class: 'card tile' }, h('div', { class: 'value', id: `tile-${id}`, 'data-value': '' }, '–'), h('div', { class: 'label' }, label));
  const canvas = (id, label) => h('div', { class: 'chart' }, h('canvas', { id: `chart-${id}`, role: 'img', 'aria-label': label }));
  const panel = (title, ...body) => h('section', { class: 'card panel' }, h('h2', {}, title), ...body);
  const progress = h('progress', { id: 'sample-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Sample traffic generated' });
  const progressText = h('span', { id: 'sample-status', role: 'status' });
  const generate = h('button', { id: 'generate', type: 'button', onclick: () => void generateSample(app, generate, progress, progressText, update) }, 'Generate 90 days of sample traffic');

  const root = h(
    'section',
    { id: 'dashboard', dataset: { title: t('dashboardTitle') } },
    h('h1', {}, t('dashboardTitle')),
    h('p', { class: 'muted' }, 'The last 90 days, computed on this device from the local database. Nothing here came from a server.'),
    h('div', { class: 'card actions', style: 'align-items:center;margin-bottom:1rem' }, generate, progress, progressText),
    h(
      'div',
      { class: 'tiles' },
      tile('users', 'Users'),
      tile('events', 'Events'),
      tile('sessions', 'Sessions'),
      tile('events-per-user', 'Events per user'),
      tile('median-session', 'Median session'),
      tile('stickiness', 'DAU / MAU'),
    ),
    h(
      'div',
      { class: 'panels' },
      h('section', { class: 'card panel wide' }, h('h2', {}, 'Daily active users'), canvas('dau', 'Daily active users over the last 90 days')),
      panel('Top pages', canvas('pages', 'Views of the most viewed pages')),
      panel('Funnel: product view → purchase', canvas('funnel', 'Users at each step of the purchase funnel'), h('p', { id: 'funnel-text', class: 'muted' })),
      panel('Session durations', canvas('durations', 'Sessions by duration'), h('p', { id: 'durations-text', class: 'muted' })),
      panel(
        'Realtime: the last 30 minutes',
        h('p', {}, h('strong', { id: 'realtime-users' }, '–'), ' active users, ', h('strong', { id: 'realtime-events' }, '–'), ' events'),
        canvas('realtime', 'Events per minute over the last 30 minutes'),
      ),
      panel('A/B test: buy button colour', h('div', { id: 'ab' })),
      h('section', { class: 'card panel wide' }, h('h2', {}, 'Weekly retention'), h('div', { id: 'retention', class: 'heat' })),
      panel('Top paths', h('ol', { id: 'journeys' })),
      panel('Next steps', h('div', { id: 'transitions' })),
    ),
  );

  let busy = false;
  async function update() {
    if (busy || !document.contains(root)) return;
    busy = true;
    const started = Date.now();
    try {
      await app.tracker.flush(); // your own latest clicks count too
      const q = range();
      const a = app.trail.analytics;
      const [summary, active, pages, funnel, durations, realtime, retention, paths, ab] = await Promise.all([
        a.summary(q),
        a.activeUsers({ ...q, interval: 'day' }),
        a.topPages({ ...q, limit: 8 }),
        a.funnel({ ...q, steps: FUNNEL, windowSecs: 7 * 86400 }),
        a.sessionDurations(q),
        a.realtime({ windowSecs: 1800 }),
        a.retention({ ...q, cohort: 'week', periods: 8 }),
        a.paths({ ...q, steps: 4, limit: 6, by: 'session' }),
        app.trail.experiments.results(EXPERIMENT, { goal: 'add_to_cart' }),
      ]);
      root.dataset.since = q.since;
      root.dataset.until = q.until;
      root.dataset.timezone = q.timezone;
      setTile('users', summary.users, num(summary.users));
      setTile('events', summary.events, num(summary.events));
      setTile('sessions', summary.sessions, num(summary.sessions));
      setTile('events-per-user', summary.eventsPerUser, num(summary.eventsPerUser, 1));
      setTile('median-session', durations.medianMs, duration(durations.medianMs));
      setTile('stickiness', active.stickiness.ratio, `${num(active.stickiness.ratio * 100, 1)} %`);
      draw('dau', 'line', active.buckets.map((b) => b.label.slice(5)), active.buckets.map((b) => b.users), 'Users');
      draw('pages', 'bar', pages.pages.map((p) => p.path), pages.pages.map((p) => p.views), 'Views', true);
      draw('funnel', 'bar', ['Viewed', 'Added', 'Checkout', 'Bought'], funnel.steps.map((s) => s.count), 'Users');
      root.querySelector('#funnel-text').textContent = funnel.steps
        .map((s, i) => (i === 0 ? `${num(s.count)} viewed a product` : `${num(s.conversionFromPrevious * 100, 1)} % went on to ${s.name.replace(/_/g, ' ')}`))
        .join('; ');
      draw('durations', 'bar', durations.histogram.map((b) => `${duration(b.minMs)}+`), durations.histogram.map((b) => b.sessions), 'Sessions');
      root.querySelector('#durations-text').textContent = `${num(durations.count)} sessions; mean ${duration(durations.meanMs)}, median ${duration(durations.medianMs)}, 90th percentile ${duration(durations.p90Ms)}.`;
      root.querySelector('#realtime-users').textContent = num(realtime.activeUsers);
      root.querySelector('#realtime-events').textContent = num(realtime.events);
      draw('realtime', 'bar', realtime.perMinute.map((m) => new Date(m.start).toTimeString().slice(0, 5)), realtime.perMinute.map((m) => m.events), 'Events');
      root.querySelector('#retention').replaceChildren(retentionTable(retention));
      root.querySelector('#journeys').replaceChildren(...paths.journeys.map((j) => h('li', {}, `${j.steps.join(' → ')} `, h('span', { class: 'muted' }, `(${num(j.count)})`))));
      root.querySelector('#transitions').replaceChildren(transitionsTable(paths));
      root.querySelector('#ab').replaceChildren(abTable(ab));
      root.dataset.updated = String(Date.now());
      root.dataset.updatedFrom = String(started); // when this snapshot's queries began
    } catch (err) {
      console.error('dashboard:', err);
    } finally {
      busy = false;
    }
  }

  function setTile(id, raw, text) {
    const el = root.querySelector(`#tile-${id}`);
    el.textContent = text;
    el.dataset.value = raw === null ? '' : String(raw);
  }

  function draw(id, type, labels, data, label, horizontal = false) {
    const accent = css('--accent');
    if (!charts[id]) {
      const Chart = globalThis.Chart;
      if (!Chart) return; // the chart library has not loaded (yet)
      const text = css('--muted');
      const grid = css('--line');
      charts[id] = new Chart(root.querySelector(`#chart-${id}`), {
        type,
        data: { labels, datasets: [{ label, data, backgroundColor: accent, borderColor: accent, pointRadius: 0, tension: 0.25, fill: false }] },
        options: {
          animation: false,
          maintainAspectRatio: false,
          indexAxis: horizontal ? 'y' : 'x',
          plugins: { legend: { display: false } },
          scales: {
            x: { ticks: { color: text, maxRotation: 0, autoSkip: true, maxTicksLimit: horizontal ? 4 : 12 }, grid: { color: grid } },
            y: { ticks: { color: text }, grid: { color: grid }, beginAtZero: true },
          },
        },
      });
    } else {
      const c = charts[id];
      c.data.labels = labels;
      c.data.datasets[0].data = data;
      c.update('none');
    }
    const canvasEl = root.querySelector(`#chart-${id}`);
    const top = labels.slice(0, 3).map((l, i) => `${l}: ${data[i]}`).join(', ');
    canvasEl.setAttribute('aria-label', `${canvasEl.getAttribute('aria-label').split(' (')[0]} (${top}${labels.length > 3 ? ', …' : ''})`);
  }

  // The engine serves every tab: refresh at most every 2 s, and leave it idle
  // at least twice as long as a refresh took. Hidden tabs do not refresh.
  let lastMs = 0;
  const tick = async () => {
    if (!document.contains(root)) {
      for (const c of Object.values(charts)) c.destroy();
      return;
    }
    if (document.visibilityState !== 'hidden') {
      const started = performance.now();
      await update();
      lastMs = performance.now() - started;
    }
    setTimeout(tick, Math.max(REFRESH_MS, 3 * lastMs));
  };
  setTimeout(tick, 0);
  return root;
}

function retentionTable(r) {
  if (r.rows.length === 0) return h('p', { class: 'muted' }, 'No cohorts yet.');
  const colours = heatScale();
  return h(
    'table',
    {},
    h('caption', { class: 'sr-only' }, 'Share of each weekly cohort that came back in later weeks'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Cohort'), h('th', { scope: 'col', class: 'num' }, 'Users'), Array.from({ length: r.periods }, (_, i) => h('th', { scope: 'col', class: 'num' }, `W${i}`)))),
    h(
      'tbody',
      {},
      r.rows.map((row) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, row.label),
          h('td', { class: 'num' }, num(row.users)),
          row.percentages.map((p) => {
            if (p === null) return h('td', { class: 'cell' }, '');
            // Percentages (0 to 100): the stronger the colour, the more came back.
            const { background, color } = colours(p / 100);
            return h('td', { class: 'cell', style: `background:${background};color:${color}` }, `${Math.round(p)}%`);
          }),
        ),
      ),
    ),
  );
}

/**
 * The heatmap's colours for the current theme, read once per table: for a
 * share, the heat colour over the card, and the text colour that reads best on it.
 */
function heatScale() {
  const rgb = (v) => v.match(/\d+/g).map(Number);
  const over = rgb(css('--heat'));
  const card = rgb(getComputedStyle(document.querySelector('.card')).backgroundColor);
  const lum = (c) => {
    const [r, g, b] = c.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  return (share) => {
    const alpha = Math.min(0.7, Math.max(0.06, share));
    const mix = over.map((c, i) => Math.round(alpha * c + (1 - alpha) * card[i]));
    const l = lum(mix);
    // Black or white: at every background one of them reaches 4.5:1.
    const color = 1.05 / (l + 0.05) > (l + 0.05) / 0.05 ? '#ffffff' : '#000000';
    return { background: `rgb(${mix.join(',')})`, color };
  };
}

function transitionsTable(paths) {
  const top = [...paths.transitions].sort((a, b) => b.count - a.count).slice(0, 8);
  if (top.length === 0) return h('p', { class: 'muted' }, 'No journeys yet.');
  return h(
    'table',
    {},
    h('caption', { class: 'sr-only' }, 'Most common next steps'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'From'), h('th', { scope: 'col' }, 'To'), h('th', { scope: 'col', class: 'num' }, 'Times'))),
    h('tbody', {}, top.map((x) => h('tr', {}, h('td', {}, x.from), h('td', {}, x.to), h('td', { class: 'num' }, num(x.count))))),
  );
}

function abTable(ab) {
  const control = ab.variants.find((v) => v.isControl);
  const other = ab.variants.find((v) => !v.isControl);
  const p = other?.vsControl?.pValue;
  const verdict =
    p === undefined || p === null
      ? 'Not enough data yet.'
      : p < 0.05
        ? `${other.name} differs from ${control.name} (p = ${p.toFixed(3)}).`
        : `No significant difference yet (p = ${p.toFixed(3)}).`;
  return h(
    'div',
    {},
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'Exposures and add-to-cart conversions per variant'),
      h('thead', {}, h('tr', {}, ['Variant', 'Exposed', 'Added to cart', 'Rate', 'p-value'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : undefined }, c)))),
      h(
        'tbody',
        {},
        ab.variants.map((v) =>
          h(
            'tr',
            { 'data-variant': v.name },
            h('th', { scope: 'row' }, `${v.name}${v.isControl ? ' (control)' : ''}`),
            h('td', { class: 'num' }, num(v.exposures)),
            h('td', { class: 'num' }, num(v.conversions)),
            h('td', { class: 'num' }, `${num(v.rate * 100, 1)} %`),
            h('td', { class: 'num' }, v.vsControl ? v.vsControl.pValue.toFixed(3) : '–'),
          ),
        ),
      ),
    ),
    h('p', { id: 'ab-verdict' }, verdict),
  );
}

/** Fills the database with 90 days of sample traffic, from a worker. */
async function generateSample(app, button, progress, text, update) {
  button.disabled = true;
  progress.hidden = false;
  text.textContent = 'Generating…';
  const worker = new Worker(new URL('./sample-worker.js', import.meta.url), { type: 'module' });
  await new Promise((resolve) => {
    worker.onmessage = ({ data }) => {
      if (data.type === 'progress') {
        progress.max = data.total;
        progress.value = data.done;
        text.textContent = data.phase === 'consent' ? 'Recording the sample users’ consent…' : `Tracking events: ${Math.round((data.done / data.total) * 100)} %`;
      } else if (data.type === 'done') {
        text.dataset.result = JSON.stringify(data);
        text.textContent = `Done: ${num(data.events)} events from ${num(data.users)} sample users in ${(data.ms / 1000).toFixed(1)} s.`;
        text.dataset.done = String(Date.now());
        resolve();
      } else if (data.type === 'error') {
        text.textContent = `Failed (${data.code}): ${data.message}`;
        resolve();
      }
    };
    // A bench sets data-events on the button for another size (about 200k by default).
    worker.postMessage({ type: 'start', options: engineOptions(), events: Number(button.dataset.events) || undefined });
  });
  worker.terminate();
  button.disabled = false;
  await update();
}
