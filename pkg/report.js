// The views the dashboard shows and `usertrail query` prints: which engine
// queries each asks, with which options, and their answers as tables. The
// numbers are the engine's (or the coordinator's merge); this only picks the
// queries and lays the answers out.
// @internal

import { UserTrailError } from './gen/error.js';

const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail: ${message}`, field);

/** The views, in the order the dashboard's navigation lists them. */
export const VIEWS = ['traffic', 'pages', 'events', 'funnel', 'retention', 'paths', 'sessions', 'experiments', 'realtime'];

/** Each view's title. */
export const TITLES = {
  traffic: 'Traffic',
  pages: 'Top pages',
  events: 'Events and features',
  funnel: 'Funnel',
  retention: 'Retention',
  paths: 'Paths',
  sessions: 'Session durations',
  experiments: 'Experiments',
  realtime: 'Realtime',
};

const PARAMS = new Set(['since', 'until', 'timezone', 'segment', 'interval', 'steps', 'windowSecs', 'cohort', 'periods', 'goal', 'limit', 'realtimeSecs']);
const INTERVALS = ['day', 'week', 'month'];

const int = (field, v, min, max) => {
  if (!Number.isInteger(v) || v < min || v > max) throw invalid(field, `${field} must be an integer from ${min} to ${max}`);
  return v;
};
const text = (field, v, max = 200) => {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw invalid(field, `${field} must be a string of 1 to ${max} characters`);
  return v;
};

/**
 * The parameters of a view, checked: unknown keys and bad values are
 * `INVALID_INPUT` naming them. Dates are ms since the epoch; `timezone` is
 * minutes east of UTC, as the engine takes it.
 */
export function readParams(params = {}) {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw invalid('params', 'params must be an object');
  for (const key of Object.keys(params)) if (!PARAMS.has(key)) throw invalid(key, `unknown parameter ${JSON.stringify(key).slice(0, 60)}`);
  const p = {};
  if (params.since !== undefined) p.since = int('since', params.since, 0, 8.64e15);
  if (params.until !== undefined) p.until = int('until', params.until, 0, 8.64e15);
  if (p.since !== undefined && p.until !== undefined && p.until <= p.since) throw invalid('until', 'until must be after since');
  if (params.timezone !== undefined) p.timezone = int('timezone', params.timezone, -1440, 1440);
  if (params.segment !== undefined && params.segment !== null) {
    const s = params.segment;
    if (typeof s !== 'object' || Array.isArray(s) || Object.keys(s).some((k) => k !== 'property' && k !== 'equals')) {
      throw invalid('segment', 'segment must be { property, equals }');
    }
    const equals = s.equals;
    if (!['string', 'number', 'boolean'].includes(typeof equals) || (typeof equals === 'string' && equals.length > 200)) {
      throw invalid('segment.equals', 'segment.equals must be a string (200 characters at most), a number or a boolean');
    }
    p.segment = { property: text('segment.property', s.property, 100), equals };
  }
  if (params.interval !== undefined) {
    if (!INTERVALS.includes(params.interval)) throw invalid('interval', 'interval must be day, week or month');
    p.interval = params.interval;
  }
  if (params.cohort !== undefined) {
    if (!INTERVALS.includes(params.cohort)) throw invalid('cohort', 'cohort must be day, week or month');
    p.cohort = params.cohort;
  }
  if (params.steps !== undefined) {
    if (!Array.isArray(params.steps) || params.steps.length > 10) throw invalid('steps', 'steps must be an array of at most 10 event names');
    p.steps = params.steps.map((s, i) => text(`steps[${i}]`, s, 100));
  }
  if (params.windowSecs !== undefined) p.windowSecs = int('windowSecs', params.windowSecs, 1, 365 * 86400);
  if (params.periods !== undefined) p.periods = int('periods', params.periods, 1, 52);
  if (params.limit !== undefined) p.limit = int('limit', params.limit, 1, 1000);
  if (params.realtimeSecs !== undefined) p.realtimeSecs = int('realtimeSecs', params.realtimeSecs, 60, 86400);
  if (params.goal !== undefined) p.goal = text('goal', params.goal, 100);
  return p;
}

/** What a view asks of a source: an engine (`trail`) or a coordinator (`acrossPartitions`). */
export function asker(source) {
  if (source && typeof source.query === 'function' && typeof source.export === 'function') {
    return {
      kind: 'partitions',
      trail: source.trail ?? null,
      ask: (name, options) => source.query(name, options),
      experiments: async () => (source.trail ? source.trail.experiments.list() : []),
    };
  }
  if (source && source.analytics && source.experiments) {
    return {
      kind: 'engine',
      trail: source,
      ask: (name, options) => {
        if (name === 'experimentResults') {
          const { key, ...rest } = options;
          return source.experiments.results(key, rest);
        }
        return source.analytics[name](options);
      },
      experiments: () => source.experiments.list(),
    };
  }
  throw invalid('source', 'the source must be an engine (UserTrail) or a coordinator (acrossPartitions)');
}

/**
 * A table: `columns` name each cell's key, label and kind: number, percent (a
 * ratio, 0 to 1), percent100 (0 to 100), ms (a duration), time (ms since the
 * epoch) or text. Cells hold the engine's values as they are.
 */
const table = (id, title, columns, rows) => ({ id, title, columns: columns.map(([key, label, kind]) => ({ key, label, kind })), rows });

/** The filters every query of a view takes. */
function filters(p) {
  const q = {};
  for (const k of ['since', 'until', 'timezone', 'segment']) if (p[k] !== undefined) q[k] = p[k];
  return q;
}

/**
 * Runs `view` on `source` with `params` (see `readParams`): resolves with
 * `{ view, title, queries, answers, tables, note? }`, where `queries` holds
 * the exact options each engine query was asked with (so an answer can be
 * checked against the engine's own), and `note` says why a view is empty.
 */
export async function runView(source, view, params = {}) {
  if (!VIEWS.includes(view)) throw invalid('view', `view must be one of ${VIEWS.join(', ')}`);
  const src = source.ask ? source : asker(source);
  const p = readParams(params);
  const f = filters(p);
  const queries = {};
  const answers = {};
  const ask = async (id, name, options) => {
    queries[id] = { query: name, options };
    answers[id] = await src.ask(name, options);
    return answers[id];
  };
  const out = { view, title: TITLES[view], queries, answers, tables: [] };
  // An empty view under a segment is most often the segment's doing: say what a segment keeps.
  const segmentNote = p.segment ? ` A segment keeps only the users whose first event has ${p.segment.property} = ${JSON.stringify(p.segment.equals)}: clear it to see everyone.` : '';
  const t = out.tables;
  switch (view) {
    case 'traffic': {
      const s = await ask('summary', 'summary', f);
      const a = await ask('activeUsers', 'activeUsers', { ...f, interval: p.interval ?? 'day' });
      t.push(
        table('summary', 'Summary', [['metric', 'Metric', 'text'], ['value', 'Value', 'number']], [
          ['Events', s.events],
          ['Users', s.users],
          ['Sessions', s.sessions],
          ['Events per user', s.eventsPerUser],
          ['Events per session', s.eventsPerSession],
        ]),
        table('stickiness', 'Stickiness', [['dau', 'DAU', 'number'], ['mau', 'MAU', 'number'], ['ratio', 'DAU/MAU', 'percent']], [
          [a.stickiness.dau, a.stickiness.mau, a.stickiness.ratio],
        ]),
        table('activeUsers', `Active users per ${a.interval}`, [['period', 'Period', 'text'], ['users', 'Users', 'number']], a.buckets.map((b) => [b.label, b.users])),
      );
      if (s.events === 0) out.note = 'No events in this range: pick a wider range, or track events with trail.tracking.track().';
      break;
    }
    case 'pages': {
      const a = await ask('topPages', 'topPages', { ...f, limit: p.limit ?? 20 });
      t.push(
        table('pages', 'Top pages', [['path', 'Page', 'text'], ['views', 'Views', 'number'], ['uniqueViewers', 'Unique viewers', 'number'], ['avgTimeOnPageMs', 'Mean time on page', 'ms']],
          a.pages.map((r) => [r.path, r.views, r.uniqueViewers, r.avgTimeOnPageMs])),
      );
      if (a.pages.length === 0) out.note = 'No page views in this range: track { type: "page" } events to see pages here.';
      break;
    }
    case 'events': {
      const b = await ask('eventBreakdown', 'eventBreakdown', { ...f, by: 'name', limit: p.limit ?? 20 });
      t.push(table('events', 'Events by name', [['name', 'Event', 'text'], ['events', 'Events', 'number'], ['users', 'Users', 'number']], b.rows.map((r) => [String(r.value ?? '(none)'), r.events, r.users])));
      const names = b.rows.map((r) => r.value).filter((v) => typeof v === 'string').slice(0, 10);
      if (names.length > 0) {
        const u = await ask('featureUsage', 'featureUsage', { ...f, features: names });
        t.push(
          table('features', `Feature usage (of ${u.activeUsers} active users)`, [['feature', 'Feature', 'text'], ['users', 'Users', 'number'], ['uses', 'Uses', 'number'], ['adoption', 'Adoption', 'percent100'], ['usesPerUser', 'Uses per user', 'number']],
            u.features.map((r) => [r.feature, r.users, r.uses, r.adoption, r.usesPerUser])),
        );
      } else {
        out.note = 'No events in this range: pick a wider range.';
      }
      break;
    }
    case 'funnel': {
      if (!p.steps || p.steps.length < 2) {
        out.note = 'Choose two steps or more (event names, in order) to see how many users go through them.';
        break;
      }
      const a = await ask('funnel', 'funnel', { ...f, steps: p.steps, windowSecs: p.windowSecs ?? 86400 });
      t.push(
        table('funnel', 'Funnel', [['step', 'Step', 'text'], ['count', 'Users', 'number'], ['conversionFromPrevious', 'From previous', 'percent'], ['conversionFromStart', 'From start', 'percent'], ['medianMsFromPrevious', 'Median time from previous', 'ms']],
          a.steps.map((s) => [s.name, s.count, s.conversionFromPrevious, s.conversionFromStart, s.medianMsFromPrevious])),
      );
      if (a.steps[0]?.count === 0) out.note = `No user did "${p.steps[0]}" in this range: check the first step's name.`;
      break;
    }
    case 'retention': {
      const periods = p.periods ?? 8;
      const a = await ask('retention', 'retention', { ...f, cohort: p.cohort ?? 'week', periods });
      const cols = [['cohort', 'Cohort', 'text'], ['users', 'Users', 'number']];
      for (let i = 0; i < a.periods; i++) cols.push([`p${i}`, `${a.cohort} ${i}`, 'percent100']);
      t.push(table('retention', 'Retention by cohort', cols, a.rows.map((r) => [r.label, r.users, ...r.percentages])));
      if (a.rows.length === 0) out.note = 'No cohort in this range: retention needs users who came back on later days.';
      break;
    }
    case 'paths': {
      const a = await ask('paths', 'paths', { ...f, steps: 4, limit: p.limit ?? 10 });
      t.push(
        table('journeys', `Top journeys (of ${a.total})`, [['journey', 'Journey', 'text'], ['count', 'Sessions', 'number']], a.journeys.map((j) => [j.steps.join(' → '), j.count])),
        table('transitions', 'Transitions', [['step', 'Step', 'number'], ['from', 'From', 'text'], ['to', 'To', 'text'], ['count', 'Sessions', 'number']], a.transitions.map((x) => [x.step, x.from, x.to, x.count])),
      );
      if (a.total === 0) out.note = 'No journeys in this range: paths follow page views and events within sessions.';
      break;
    }
    case 'sessions': {
      const a = await ask('sessionDurations', 'sessionDurations', f);
      t.push(
        table('durations', 'Session durations', [['sessions', 'Sessions', 'number'], ['meanMs', 'Mean', 'ms'], ['medianMs', 'Median', 'ms'], ['p90Ms', '90th percentile', 'ms'], ['maxMs', 'Longest', 'ms']], [[a.count, a.meanMs, a.medianMs, a.p90Ms, a.maxMs]]),
        table('histogram', 'Sessions by duration', [['from', 'From', 'ms'], ['to', 'To', 'ms'], ['sessions', 'Sessions', 'number']], a.histogram.map((h) => [h.minMs, h.maxMs, h.sessions])),
      );
      if (a.count === 0) out.note = 'No sessions in this range.';
      break;
    }
    case 'experiments': {
      const list = await src.experiments();
      answers.experiments = list;
      t.push(table('experiments', 'Experiments', [['key', 'Experiment', 'text'], ['variants', 'Variants', 'text']], list.map((e) => [e.key, e.variants.map((v) => `${v.name} (weight ${v.weight})`).join(', ')])));
      if (list.length === 0) {
        out.note = 'No experiments defined: define one with trail.experiments.define().';
        break;
      }
      if (!p.goal) {
        out.note = 'Choose a goal event to see each variant’s conversion and its z-test against the control.';
        break;
      }
      for (const e of list) {
        const options = { key: e.key, goal: p.goal };
        if (p.since !== undefined) options.since = p.since;
        if (p.until !== undefined) options.until = p.until;
        const r = await ask(`experiment:${e.key}`, 'experimentResults', options);
        t.push(
          table(`experiment:${e.key}`, `${e.key}: ${p.goal}`, [['variant', 'Variant', 'text'], ['exposures', 'Exposures', 'number'], ['conversions', 'Conversions', 'number'], ['rate', 'Rate', 'percent'], ['diff', 'Difference', 'percent'], ['z', 'z', 'number'], ['pValue', 'p-value', 'number']],
            r.variants.map((v) => [v.isControl ? `${v.name} (control)` : v.name, v.exposures, v.conversions, v.rate, v.vsControl?.diff ?? null, v.vsControl?.z ?? null, v.vsControl?.pValue ?? null])),
        );
      }
      break;
    }
    case 'realtime': {
      const o = { windowSecs: p.realtimeSecs ?? 1800 };
      if (p.segment) o.segment = p.segment;
      const a = await ask('realtime', 'realtime', o);
      t.push(
        table('now', `Last ${Math.round(a.windowSecs / 60)} minutes`, [['activeUsers', 'Active users', 'number'], ['events', 'Events', 'number']], [[a.activeUsers, a.events]]),
        table('perMinute', 'Events per minute', [['minute', 'Minute', 'time'], ['events', 'Events', 'number']], a.perMinute.map((m) => [m.start, m.events])),
      );
      if (a.events === 0) out.note = 'Nothing in the last minutes: events appear here as they are tracked.';
      break;
    }
  }
  if (segmentNote && out.note?.startsWith('No ')) out.note += segmentNote;
  return out;
}

/** A cell as CSV: quoted when needed, and text that a spreadsheet would run as a formula made inert. */
function csvCell(v) {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^\s*[=+\-@]|^[\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** What a column's CSV values are in, added to its label: the engine's values as they are. */
const UNITS = { percent: ' (ratio 0-1)', percent100: ' (%)', ms: ' (ms)', time: ' (UTC)' };

/**
 * A table as CSV text (RFC 4180, CRLF line ends, a header row of the column
 * labels with their units). Values are the engine's, unrounded; times are
 * ISO 8601.
 */
export function toCsv(t) {
  const lines = [t.columns.map((c) => csvCell(`${c.label}${UNITS[c.kind] ?? ''}`)).join(',')];
  for (const r of t.rows) lines.push(r.map((v, i) => csvCell(t.columns[i].kind === 'time' && typeof v === 'number' ? new Date(v).toISOString() : v)).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
