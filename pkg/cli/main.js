#!/usr/bin/env node
// `usertrail`: the command line for operators (docs/CLI.md). Reads a
// database without changing it (a snapshot when another engine holds it),
// runs the long operations in a worker thread with a progress bar, and
// stops them cleanly at Ctrl-C.

import fs from 'node:fs';
import os from 'node:os';
import path, { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline/promises';
import { UserTrail } from '../index.js';
import { serveDashboard } from '../dashboard.js';
import { segmentValue } from '../dashboard/segment.js';
import { VIEWS, runView, toCsv } from '../report.js';
import { describeLock, realFile } from '../node-fs.js';
import { CliError, EXIT, asCliError, cleanup, diskVersion, durabilityOf, holder, holdsLock, isRegularFile, mustExist, needsRecovery, removeDeadCopies, replaceFile, snapshot, walUsableBytes } from './files.js';
import { bytes as showBytes, duration, progressBar } from './progress.js';

const HELP = `usertrail: the command line of usertrail's SQLite databases.

Usage:
  usertrail info <file> [--json]                     schema version, size, rows per table, retention
  usertrail verify <file> [--json]                   checks the audit log's and consent ledger's hash chains
  usertrail query <file> <view> [filters] [--json | --csv [--table <id>]]
        views: ${VIEWS.join(', ')}
        filters: --since <YYYY-MM-DD> --until <YYYY-MM-DD> --segment <field=value> (properties.plan=pro, path=/, os=iOS; properties.n="3" for the text 3)
                 --interval day|week|month --steps a,b,c --window <secs> --cohort day|week|month
                 --periods <n> --goal <event> --limit <n>
  usertrail export <file> <subject> [--format json|ndjson|csv|sqlite] [--out <path>] [--json]
  usertrail erase <file> <subject> [--reason <text>] [--yes] [--json]
  usertrail vacuum <file> [--json]                   compacts the file (a copy, then a rename)
  usertrail migrate <file> [--json]                  brings the file to this version's schema, then packs the blocks analytics reads
  usertrail import <file> <events.ndjson> [--json]   tracks one event (JSON) per line
  usertrail import <file> <backup.sqlite> [--force]  restores a database (trail.export() bytes) as <file>
  usertrail sample <file> [--users <n>] [--days <n>] [--seed <n>] [--force] [--json]
  usertrail dashboard <file> | --partitions <url,...> [--redis <url>] [--prefix <p>]
                      [--port <n>] [--host <address>] [--key <key>]

Exit codes: 0 done; 1 failed; 2 bad arguments; 3 verify found problems;
4 the file is held by a running engine; 130 interrupted (Ctrl-C).
`;

/** Each command's flags: boolean, or taking a value. */
const FLAGS = {
  info: { json: 'bool' },
  verify: { json: 'bool' },
  query: { json: 'bool', csv: 'bool', table: 'value', since: 'value', until: 'value', segment: 'value', interval: 'value', steps: 'value', window: 'value', cohort: 'value', periods: 'value', goal: 'value', limit: 'value' },
  export: { format: 'value', out: 'value', json: 'bool' },
  erase: { reason: 'value', yes: 'bool', json: 'bool' },
  vacuum: { json: 'bool' },
  migrate: { json: 'bool' },
  import: { json: 'bool', force: 'bool' },
  sample: { users: 'value', days: 'value', seed: 'value', force: 'bool', json: 'bool' },
  dashboard: { partitions: 'value', redis: 'value', prefix: 'value', port: 'value', host: 'value', key: 'value' },
};

/** The path an engine opens `file` by: absolute, symbolic links resolved, so a link shares the file's lock. */
const resolve = (file) => realFile(fs, file, path);

const usage = (message) => new CliError(EXIT.USAGE, 'INVALID_INPUT', `${message}\nRun \`usertrail help\` for the commands.`);

function parse(argv) {
  const [command, ...rest] = argv;
  if (!command) return { command: 'usage' };
  if (command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (command === '--version' || command === 'version') return { command: 'version' };
  const spec = FLAGS[command];
  if (!spec) throw usage(`unknown command ${JSON.stringify(command)}`);
  const flags = {};
  const args = [];
  let positional = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--' && !positional) {
      positional = true; // what follows is arguments, even `--like-this`
    } else if (a.startsWith('--') && !positional) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
      if (!spec[name]) throw usage(`${command} does not take --${name}`);
      if (spec[name] === 'bool') {
        if (inline !== undefined) throw usage(`--${name} takes no value`);
        flags[name] = true;
      } else {
        const v = inline ?? rest[++i];
        if (v === undefined || v === '') throw usage(`--${name} needs a value`);
        flags[name] = v;
      }
    } else {
      args.push(a);
    }
  }
  return { command, args, flags };
}

const int = (name, v, min, max, dflt) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw usage(`--${name} must be an integer from ${min} to ${max}`);
  return n;
};

const date = (name, v) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw usage(`--${name} must be a date, YYYY-MM-DD`);
  const ms = Date.parse(`${v}T00:00:00Z`);
  if (!Number.isFinite(ms)) throw usage(`--${name} must be a date, YYYY-MM-DD`);
  return ms;
};

function out(text) {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

const json = (value) => out(JSON.stringify(value, null, 2));

/** The database at `file` to read: a copy, so that reading never changes the file. */
async function openForReading(file) {
  mustExist(file);
  const abs = resolve(file);
  const pid = holder(abs);
  if (pid !== null) {
    const bytes = snapshot(abs, pid);
    process.stderr.write(`usertrail: ${file} is held by process ${pid}: reading a snapshot of it\n`);
    return { trail: await UserTrail.open({ storage: { bytes } }), snapshot: true, bytes };
  }
  if (needsRecovery(abs)) {
    // A writer died mid-way: its -wal or journal holds what the file lacks. Recover a copy, not the file.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'usertrail-read-'));
    try {
      const copy = path.join(dir, 'db');
      fs.copyFileSync(abs, copy);
      if (isRegularFile(`${abs}-journal`)) fs.copyFileSync(`${abs}-journal`, `${copy}-journal`);
      // Of the -wal, what recovery would use: a log padded with holes or
      // garbage past its last commit is not copied whole.
      copyPrefix(`${abs}-wal`, `${copy}-wal`, walUsableBytes(abs));
      const recovered = await UserTrail.open({ storage: { file: copy }, durability: durabilityOf(abs) });
      const bytes = await recovered.export();
      await recovered.close();
      process.stderr.write(`usertrail: ${file} was left mid-write by a process that stopped: reading a recovered copy (the file itself recovers at its next open)\n`);
      return { trail: await UserTrail.open({ storage: { bytes } }), snapshot: true, bytes };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  // Read without changing the file (no migration, no retention run): a copy in memory.
  const bytes = fs.readFileSync(abs);
  return { trail: await UserTrail.open({ storage: { bytes } }), snapshot: false, bytes };
}

/** Copies the first `bytes` of `from` to `to` (nothing for 0), a megabyte at a time. */
function copyPrefix(from, to, bytes) {
  if (bytes <= 0) return;
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'w');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytes; ) {
      const n = fs.readSync(src, buf, 0, Math.min(buf.length, bytes - at), at);
      if (n === 0) break;
      fs.writeSync(dst, buf, 0, n, at);
      at += n;
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

/** Opens and closes `file` once a worker was stopped: SQLite recovers it (rolls back, folds its -wal in). */
async function settle(file, durability) {
  const t = await UserTrail.open({ storage: { file }, durability });
  await t.close();
}

/** `file` must not be held by another engine, for a command that writes it. */
function mustBeFree(file, doing) {
  const pid = holder(resolve(file));
  if (pid !== null) {
    const who = describeLock(fs, resolve(file)) || `held by process ${pid}`;
    throw new CliError(EXIT.BUSY, 'BUSY', `${file} is ${who}: stop it first${doing ? `, or ${doing}` : ''}`);
  }
}

/** How long an interrupted command waits for its worker to stop. */
const STOP_DEADLINE_MS = 5000;

/**
 * Runs a long operation in a worker thread with a progress bar. Ctrl-C stops
 * the worker, `onInterrupt` tidies up, and the process exits 130.
 */
function long(label, data, { quiet, onInterrupt, onProgress }) {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    const bar = progressBar(label, { quiet });
    let finished = false;
    let stopping = false;
    const onSigint = async () => {
      // A second Ctrl-C (or SIGTERM) while stopping does not wait.
      if (stopping) process.exit(EXIT.INTERRUPTED);
      if (finished) return;
      finished = true;
      stopping = true;
      bar.finish();
      process.stderr.write(`usertrail: interrupted; stopping ${label}…\n`);
      // A worker stuck in a system call is not waited for past the deadline:
      // the tidying runs, and the exit ends the worker with the process.
      let timer;
      const stopped = await Promise.race([
        worker.terminate().then(() => true),
        new Promise((resolveTimer) => {
          timer = setTimeout(() => resolveTimer(false), STOP_DEADLINE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!stopped) process.stderr.write(`usertrail: ${label} did not stop within ${STOP_DEADLINE_MS / 1000} s; exiting\n`);
      let message = '';
      try {
        message = (await onInterrupt?.()) ?? '';
      } catch (err) {
        message = `tidying up failed: ${err.message}`;
      }
      if (message) process.stderr.write(`usertrail: ${message}\n`);
      process.exit(EXIT.INTERRUPTED);
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    const done = () => {
      finished = true;
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      bar.finish();
    };
    worker.on('message', (m) => {
      if (m.progress?.warning) process.stderr.write(`usertrail: ${m.progress.warning}\n`);
      else if (m.progress) {
        onProgress?.(m.progress);
        // A phase's signal (migrate's "the schema is done") draws nothing.
        if (!m.progress.signalOnly) bar.update(m.progress.done, m.progress.total, m.progress.unit);
      }
      else if (m.result !== undefined) {
        done();
        resolvePromise({ ...m.result, elapsedMs: bar.elapsedMs });
        worker.terminate();
      } else if (m.error) {
        done();
        const err = new Error(m.error.message);
        err.code = m.error.code;
        err.field = m.error.field;
        reject(asCliError(err));
        worker.terminate();
      }
    });
    worker.on('error', (err) => {
      if (finished) return;
      done();
      reject(asCliError(err));
    });
  });
}

// ---- Commands

/** How long `category` is kept, as `info` says it: sessions count from their expiry. */
function retained(category, v) {
  if (v === null || v === undefined) return 'forever';
  if (category !== 'sessions') return v;
  return /^0[a-z]+$/.test(v) ? 'until expiry' : `${v} after expiry`;
}

/** `n` and `word`, with an `s` unless `n` is 1. */
const counted = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;

async function info(file, flags) {
  const { trail, snapshot: snap } = await openForReading(file);
  try {
    const i = await trail.info();
    const onDisk = diskVersion(file);
    const walBytes = fs.statSync(`${resolve(file)}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    const report = { file: resolve(file), fileBytes: fs.statSync(resolve(file)).size, walBytes, schemaVersionOnDisk: onDisk, snapshot: snap, ...i };
    if (flags.json) return json(report);
    const rows = [
      ['File', report.file],
      ['Size on disk', walBytes ? `${showBytes(report.fileBytes)} (and ${showBytes(walBytes)} in its -wal)` : showBytes(report.fileBytes)],
      ['Schema version', onDisk === i.schemaVersion ? String(onDisk) : `${onDisk} on disk (this version reads ${i.schemaVersion}: run usertrail migrate)`],
      ['usertrail', i.version],
      ['Created', new Date(i.createdAt).toISOString()],
      ['Pages', `${i.pageCount.toLocaleString()} of ${i.pageSize} bytes (${i.freePages.toLocaleString()} free)`],
      ['Events from', i.eventsFrom === null ? '–' : new Date(i.eventsFrom).toISOString()],
      ['Events to', i.eventsTo === null ? '–' : new Date(i.eventsTo).toISOString()],
      ['Blocks to pack', i.blocksToPack === 0 ? '0' : `${i.blocksToPack.toLocaleString()} (usertrail migrate packs them; until then analytics reads those events' rows, reads them without types, reads blocks without their spans or rows by name whole, or reads their events' dimensions from the events' rows)`],
      ['Retention', Object.entries(i.retention).map(([k, v]) => `${k} ${retained(k, v)}`).join(', ')],
      ['Retention runs', `every ${duration(i.schedule.intervalMs / 1000)} (h:mm:ss), at the first write once due`],
    ];
    out(formatTable(['', ''], rows, false));
    out('');
    out(formatTable(['Table', 'Rows'], Object.entries(i.tables).map(([k, v]) => [k, v.toLocaleString()]), true));
  } finally {
    await trail.close();
  }
}

async function verify(file, flags) {
  const { trail } = await openForReading(file);
  try {
    const audit = await trail.privacy.verifyAudit();
    const ledger = await trail.privacy.verifyLedger();
    const ok = audit.ok && ledger.ok;
    if (flags.json) json({ ok, audit, ledger });
    else {
      out(`audit log: ${audit.ok ? 'intact' : 'BROKEN'} (${audit.checked} entries checked)`);
      for (const p of audit.problems) out(`  entry ${p.seq}: ${p.problem}`);
      out(`consent ledger: ${ledger.ok ? 'intact' : 'BROKEN'} (${ledger.checked} rows checked)`);
      for (const p of ledger.problems) out(`  row ${p.seq}: ${p.problem}`);
    }
    return ok ? EXIT.OK : EXIT.PROBLEMS;
  } finally {
    await trail.close();
  }
}

function viewParams(flags) {
  const p = { timezone: 0 };
  if (flags.since) p.since = date('since', flags.since);
  if (flags.until) p.until = date('until', flags.until) + 86_400_000;
  if (flags.segment) {
    const i = flags.segment.indexOf('=');
    if (i < 1) throw usage('--segment must be property=value');
    const raw = flags.segment.slice(i + 1);
    const property = flags.segment.slice(0, i);
    p.segment = { property, equals: segmentValue(property, raw) };
  }
  if (flags.interval) p.interval = flags.interval;
  if (flags.steps) p.steps = flags.steps.split(',').map((s) => s.trim()).filter(Boolean);
  if (flags.window) p.windowSecs = int('window', flags.window, 1, 365 * 86400);
  if (flags.cohort) p.cohort = flags.cohort;
  if (flags.periods) p.periods = int('periods', flags.periods, 1, 52);
  if (flags.goal) p.goal = flags.goal;
  if (flags.limit) p.limit = int('limit', flags.limit, 1, 1000);
  return p;
}

/** A cell as the terminal shows it. */
function cell(kind, v) {
  if (v === null || v === undefined) return '-';
  if (kind === 'percent') return `${(v * 100).toFixed(1)}%`;
  if (kind === 'percent100') return `${v.toFixed(1)}%`;
  if (kind === 'ms') return v < 1000 ? `${Math.round(v)} ms` : `${duration(v / 1000)}`;
  if (kind === 'time') return new Date(v).toISOString();
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 3 });
  return String(v);
}

function formatTable(headers, rows, withHeader = true) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  // Facts (no header) read left to right; tables align their numbers right.
  const line = (r) => r.map((c, i) => (i === 0 || !withHeader ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd();
  const lines = withHeader ? [line(headers), widths.map((w) => '-'.repeat(w)).join('  ')] : [];
  for (const r of rows) lines.push(line(r));
  return lines.join('\n');
}

async function query(file, view, flags) {
  if (!view) throw usage(`query needs a view: ${VIEWS.join(', ')}`);
  if (!VIEWS.includes(view)) throw usage(`no view ${JSON.stringify(view)}: ${VIEWS.join(', ')}`);
  if (flags.json && flags.csv) throw usage('--json and --csv go one at a time');
  const params = viewParams(flags);
  if (view === 'funnel' && (params.steps?.length ?? 0) < 2) throw usage('query funnel needs --steps with two event names or more, in order (--steps signup,purchase)');
  if (params.since !== undefined && params.until !== undefined && params.until <= params.since) throw usage('--until must be on or after --since (both are dates, UTC; --until counts its whole day)');
  const { trail } = await openForReading(file);
  try {
    const v = await runView(trail, view, params);
    if (flags.json) return json(v);
    let tables = v.tables;
    if (flags.table) {
      tables = tables.filter((t) => t.id === flags.table);
      if (tables.length === 0) throw usage(`no table ${JSON.stringify(flags.table)} in ${view}: ${v.tables.map((t) => t.id).join(', ')}`);
    }
    if (flags.csv) {
      if (tables.length !== 1) throw usage(`${view} has ${tables.length} tables: pick one with --table (${v.tables.map((t) => t.id).join(', ') || 'none here'})`);
      return process.stdout.write(toCsv(tables[0]));
    }
    if (v.note) process.stderr.write(`${v.note}\n`);
    for (const t of tables) {
      out(`${t.title}\n`);
      out(formatTable(t.columns.map((c) => c.label), t.rows.map((r) => r.map((x, i) => cell(t.columns[i].kind, x)))));
      out('');
    }
  } finally {
    await trail.close();
  }
}

async function exportCommand(file, subject, flags) {
  if (!subject) throw usage('export needs a subject');
  mustExist(file);
  const format = flags.format ?? 'json';
  if (!['json', 'ndjson', 'csv', 'sqlite'].includes(format)) throw usage('--format must be json, ndjson, csv or sqlite');
  const ext = { json: 'json', ndjson: 'ndjson', csv: 'zip', sqlite: 'sqlite' }[format];
  const target = resolve(flags.out ?? `usertrail-export-${Date.now()}.${ext}`);
  if (fs.existsSync(target)) throw usage(`${target} exists: choose another --out`);
  // Checked before the export, which the audit log records.
  if (!fs.existsSync(dirname(target)) || !fs.statSync(dirname(target)).isDirectory()) throw usage(`${dirname(target)} is not a directory: choose another --out`);
  const abs = resolve(file);
  const pid = holder(abs);
  const data = { op: 'export', subject, format, out: target, actor: `cli:${os.userInfo().username}` };
  if (pid !== null) {
    data.bytes = snapshot(abs, pid);
    process.stderr.write(`usertrail: ${file} is held by process ${pid}: exporting from a snapshot (this export is not in the file's audit log; export through the app to audit it)\n`);
  } else {
    data.file = abs;
    data.durability = durabilityOf(abs);
  }
  const r = await long('export', data, {
    quiet: flags.json,
    onInterrupt: () => {
      cleanup(target, { copy: true });
      if (data.file) cleanup(data.file);
      return `export stopped; ${basename(target)} was not written`;
    },
  });
  if (flags.json) return json(r);
  out(`exported ${counted(Object.values(r.counts).reduce((s, n) => s + n, 0), 'row')} (${showBytes(r.bytes)}, ${r.format}) to ${r.out}`);
}

async function erase(file, subject, flags) {
  if (!subject) throw usage('erase needs a subject');
  mustExist(file);
  mustBeFree(file, 'erase through that app (trail.privacy.erase, or usertrail/dashboard mounted in it)');
  if (!flags.yes) {
    if (!process.stdin.isTTY) throw usage('erase cannot be undone: pass --yes to confirm');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const again = await rl.question(`Erasing cannot be undone. Type the subject again to erase it: `);
    rl.close();
    if (again !== subject) throw new CliError(EXIT.USAGE, 'INVALID_INPUT', 'the subject typed differs: nothing erased');
  }
  const abs = resolve(file);
  const trail = await UserTrail.open({ storage: { file: abs }, durability: durabilityOf(abs) });
  try {
    const r = await trail.privacy.erase(subject, { reason: flags.reason ?? 'command line', actor: `cli:${os.userInfo().username}` });
    const head = await trail.privacy.auditHead();
    const receipt = { subject, erasedAt: Date.now(), counts: r.counts, vacuumed: r.vacuumed ?? false, auditHead: head };
    if (flags.json) return json(receipt);
    out(`erased ${Object.values(r.counts).reduce((s, n) => s + n, 0).toLocaleString()} rows`);
    out(formatTable(['Table', 'Rows'], Object.entries(r.counts).filter(([, n]) => n > 0).map(([k, v]) => [k, v.toLocaleString()])));
    out(`audit head after the erasure: seq ${head.seq}, hash ${head.hash}`);
  } finally {
    await trail.close();
  }
}

async function vacuum(file, flags) {
  mustExist(file);
  mustBeFree(file);
  const abs = resolve(file);
  const into = `${abs}.vacuum-${process.pid}`;
  cleanup(into, { copy: true });
  removeDeadCopies(abs);
  let r;
  try {
    r = await long('vacuum', { op: 'vacuum', file: abs, into, durability: durabilityOf(abs) }, {
      quiet: flags.json,
      onInterrupt: () => {
        cleanup(into, { copy: true });
        cleanup(abs);
        return `vacuum stopped; ${file} is unchanged`;
      },
    });
  } catch (err) {
    // The worker keeps the file's lock at its close: a failed vacuum lets it go.
    cleanup(into, { copy: true });
    cleanup(abs);
    throw err;
  }
  // The copy is complete and closed: it takes the file's place in one
  // rename. The worker kept the file's lock at its close, so no engine
  // wrote to the file after the copy was taken.
  if (!holdsLock(abs)) throw new CliError(EXIT.FAILED, 'INTERNAL', `${file}'s lock was not kept from the vacuum to the rename; ${file} is unchanged`);
  replaceFile(abs, into);
  const report = { file: abs, before: r.before, after: r.after, elapsedMs: r.elapsedMs };
  if (flags.json) return json(report);
  out(`vacuumed ${file}: ${showBytes(r.before)} → ${showBytes(r.after)} in ${duration(r.elapsedMs / 1000)}`);
}

async function migrate(file, flags) {
  mustExist(file);
  mustBeFree(file);
  const abs = resolve(file);
  const from = diskVersion(abs);
  const probe = await UserTrail.open({ storage: 'memory' });
  const current = probe.schemaVersion;
  await probe.close();
  if (from > current) throw new CliError(EXIT.FAILED, 'SCHEMA_TOO_NEW', `${file} has schema version ${from}, newer than this usertrail's ${current}: upgrade usertrail`);
  // A file at this version already may still lack packed blocks (an app
  // that opened it migrated it, and its ingest packs a few per call): pack
  // them all the same.
  // Two steps: the schema (one transaction), then the packed blocks of
  // events analytics reads (a transaction per step: what is packed stays).
  let packing = false;
  const migrated = from !== current;
  const r = await long('migrate', { op: 'migrate', file: abs, durability: durabilityOf(abs) }, {
    quiet: flags.json,
    onProgress: (p) => {
      if (p.unit === 'blocks') packing = true;
    },
    onInterrupt: () => {
      cleanup(abs);
      if (packing || !migrated) {
        return `${file} is at schema version ${current}; packing the blocks analytics reads stopped part way (what is packed stays; the next usertrail migrate, or ingest, packs the rest)`;
      }
      return `migration stopped; ${file} stays at schema version ${from} (its journal rolls the change back at the next open)`;
    },
  });
  if (flags.json) return json({ file: abs, from, to: r.schemaVersion, migrated, blocks: r.blocks, elapsedMs: r.elapsedMs });
  const packed = `${r.blocks.toLocaleString('en-US')} blocks of events packed, or given their spans, rows by name or dimensions, for analytics (a block given several counts once for each)`;
  if (!migrated) return out(`${file} is at schema version ${current} already; ${packed}`);
  out(`migrated ${file} from schema version ${from} to ${r.schemaVersion} (${packed}) in ${duration(r.elapsedMs / 1000)}`);
}

async function importCommand(file, source, flags) {
  if (!source) throw usage('import needs a source: events (.ndjson, .jsonl) or a database backup');
  if (!fs.existsSync(source) || !fs.statSync(source).isFile()) throw new CliError(EXIT.FAILED, 'CANNOT_OPEN', `${source}: no such file`);
  const abs = resolve(file);
  if (/\.(nd)?jsonl?$/i.test(source) && !/\.json$/i.test(source)) {
    if (fs.existsSync(abs)) mustBeFree(abs, 'track the events through that app');
    const durability = fs.existsSync(abs) ? durabilityOf(abs) : 'full';
    const r = await long('import', { op: 'import-events', file: abs, source: resolve(source), durability }, {
      quiet: flags.json,
      onInterrupt: async () => {
        cleanup(abs);
        await settle(abs, durability);
        return `import stopped; the batches already tracked stay in ${file} (importing the same lines again skips those with an eventId)`;
      },
    });
    if (flags.json) return json(r);
    out(`imported ${r.lines.toLocaleString()} lines into ${file}: ${Object.entries(r.statuses).map(([k, n]) => `${n.toLocaleString()} ${k}`).join(', ')}${r.notJson ? `, ${r.notJson} not JSON` : ''}`);
    for (const x of r.rejected) out(`  line ${x.line}: ${x.code}${x.field ? ` (${x.field})` : ''}: ${x.message}`);
    return;
  }
  // A backup: checked by opening it (which migrates it in memory), then written whole.
  if (fs.existsSync(abs) && !flags.force) throw usage(`${file} exists: pass --force to replace it`);
  if (fs.existsSync(abs)) mustBeFree(abs);
  mustExist(source);
  const trail = await UserTrail.open({ storage: { bytes: fs.readFileSync(source) } });
  let bytes;
  let version;
  try {
    bytes = await trail.export();
    version = trail.schemaVersion;
  } finally {
    await trail.close();
  }
  const tmp = `${abs}.import-${process.pid}`;
  removeDeadCopies(abs);
  fs.writeFileSync(tmp, bytes);
  const fd = fs.openSync(tmp, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  // Under the file's lock, so that no engine opens it meanwhile; the old file's journals go first.
  try {
    replaceFile(abs, tmp);
  } catch (err) {
    cleanup(tmp, { copy: true });
    throw err;
  }
  if (flags.json) return json({ file: abs, bytes: bytes.byteLength, schemaVersion: version });
  out(`restored ${source} as ${file} (${showBytes(bytes.byteLength)}, schema version ${version})`);
}

async function sample(file, flags) {
  const abs = resolve(file);
  if (fs.existsSync(abs)) mustBeFree(abs);
  // Made-up users, consent and events in what may be a real database: only when asked.
  if (fs.existsSync(abs) && !flags.force) throw usage(`${file} exists: sample would add made-up users and events to it; pass --force to add them anyway`);
  const users = int('users', flags.users, 1, 1_000_000, 500);
  const days = int('days', flags.days, 1, 3650, 30);
  const seed = int('seed', flags.seed, 0, 2 ** 31 - 1, 1);
  const durability = fs.existsSync(abs) ? durabilityOf(abs) : 'normal';
  const r = await long('sample data', { op: 'sample', file: abs, users, days, seed, durability }, {
    quiet: flags.json,
    onInterrupt: async () => {
      cleanup(abs);
      await settle(abs, durability);
      return `sample data stopped; what was committed so far stays in ${file}`;
    },
  });
  if (flags.json) return json(r);
  out(`wrote ${r.users.toLocaleString()} users and ${r.events.toLocaleString()} events to ${file} in ${duration(r.elapsedMs / 1000)}`);
}

async function dashboardCommand(file, flags) {
  const host = flags.host ?? '127.0.0.1';
  const port = int('port', flags.port, 0, 65535, 0);
  const key = flags.key ?? Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url');
  if (key.length < 16) throw usage('--key must be 16 characters or more');
  let source;
  let notice = null;
  const closers = [];
  if (flags.partitions) {
    if (file) throw usage('dashboard takes a file or --partitions, not both');
    const urls = flags.partitions.split(',').map((u) => u.trim()).filter(Boolean);
    const { acrossPartitions } = await import('../pipeline.js');
    let trail;
    if (flags.redis) {
      const { createClient } = await import('redis').catch(() => {
        throw new CliError(EXIT.FAILED, 'UNSUPPORTED', '--redis needs the npm package redis: npm install redis');
      });
      const { redisStore } = await import('../redis.js');
      const client = createClient({ url: flags.redis });
      client.on('error', () => {});
      await client.connect();
      closers.push(() => client.quit().catch(() => {}));
      trail = await UserTrail.open({ storage: 'memory', shared: redisStore(client, flags.prefix ? { prefix: flags.prefix } : {}) });
    } else {
      trail = await UserTrail.open({ storage: 'memory' });
    }
    closers.unshift(() => trail.close());
    source = acrossPartitions(urls, trail);
  } else {
    if (!file) throw usage('dashboard needs a database file or --partitions <url,...>');
    mustExist(file);
    const pid = holder(resolve(file));
    if (pid !== null) {
      const bytes = snapshot(resolve(file), pid);
      notice = `A snapshot of ${basename(file)} taken at ${new Date().toLocaleString()}, while process ${pid} holds the file: its numbers do not update, and erasing is off here. Mount usertrail/dashboard in that app for the live data.`;
      process.stderr.write(`usertrail: ${file} is held by process ${pid}: serving a read-only snapshot\n`);
      source = await UserTrail.open({ storage: { bytes } });
    } else {
      source = await UserTrail.open({ storage: { file: resolve(file) }, durability: durabilityOf(resolve(file)) });
    }
    closers.push(() => source.close());
  }
  const served = await serveDashboard(source, { host, port, auth: { key, operator: os.userInfo().username }, title: file ? basename(file) : 'partitions', ...(notice ? { notice, readOnly: true } : {}) });
  // 0.0.0.0 and :: take every interface: the URL names one a browser can open.
  const url = served.url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
  out(`Dashboard: ${url}#key=${key}\nKey: ${key}\n${notice ? `${notice}\n` : ''}Ctrl-C stops it.`);
  await new Promise((resolvePromise) => {
    const stop = () => resolvePromise();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await served.close();
  for (const c of closers) await c();
}

async function main() {
  const { command, args = [], flags = {} } = parse(process.argv.slice(2));
  const need = (n) => {
    if (args.length < n) throw usage(`${command} needs a database file`);
  };
  // An argument past those a command takes is a slip (a flag after `--`,
  // an output file where the subject goes): refused, not ignored.
  const most = { info: 1, verify: 1, query: 2, export: 2, erase: 2, vacuum: 1, migrate: 1, import: 2, sample: 1, dashboard: 1 }[command];
  if (most !== undefined && args.length > most) {
    throw usage(`${command} takes at most ${most} argument${most === 1 ? '' : 's'}; ${JSON.stringify(args[most])} is one too many`);
  }
  switch (command) {
    case 'help':
      return out(HELP);
    case 'usage':
      process.stderr.write(HELP);
      return EXIT.USAGE;
    case 'version': {
      const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
      return out(pkg.version);
    }
    case 'info':
      need(1);
      return info(args[0], flags);
    case 'verify':
      need(1);
      return verify(args[0], flags);
    case 'query':
      need(1);
      return query(args[0], args[1], flags);
    case 'export':
      need(1);
      return exportCommand(args[0], args[1], flags);
    case 'erase':
      need(1);
      return erase(args[0], args[1], flags);
    case 'vacuum':
      need(1);
      return vacuum(args[0], flags);
    case 'migrate':
      need(1);
      return migrate(args[0], flags);
    case 'import':
      need(1);
      return importCommand(args[0], args[1], flags);
    case 'sample':
      need(1);
      return sample(args[0], flags);
    case 'dashboard':
      return dashboardCommand(args[0], flags);
  }
}

main().then(
  (code) => process.exit(typeof code === 'number' ? code : EXIT.OK),
  (err) => {
    const e = asCliError(err);
    // Messages made for the package's callers start with its name already.
    const message = String(e.message).replace(/^usertrail: /, '');
    process.stderr.write(`usertrail: ${message}${e.code && !message.includes(e.code) ? ` (${e.code})` : ''}\n`);
    process.exit(e.exit);
  },
);

