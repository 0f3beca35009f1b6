// A progress bar on stderr: what is done of the total, the rate and an
// estimate of the time left. Draws on a terminal only (at most ten times a
// second); elsewhere it stays quiet, so scripts read stdout alone.

const units = ['B', 'KB', 'MB', 'GB', 'TB'];

/** A byte count as text: `12.3 MB`. */
export function bytes(n) {
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Seconds as `m:ss` (or `h:mm:ss`). */
export function duration(secs) {
  if (!Number.isFinite(secs) || secs < 0) return '--:--';
  const s = Math.round(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/**
 * A bar for `label` over `total` units (`unit: 'bytes'` shows sizes).
 * `update(done, total?, unit?)` moves it; `finish()` clears it.
 */
export function progressBar(label, { total = 0, unit = 'items', stream = process.stderr, quiet = false } = {}) {
  // USERTRAIL_PROGRESS=1 draws it elsewhere too, one line per step (for logs and tests).
  const lines = process.env.USERTRAIL_PROGRESS === '1' && stream.isTTY !== true;
  const tty = !quiet && (stream.isTTY === true || lines);
  const started = Date.now();
  let last = 0;
  let done = 0;
  const fmt = (n) => (unit === 'bytes' ? bytes(n) : `${Math.round(n).toLocaleString()} ${unit}`);
  const draw = (force) => {
    if (!tty) return;
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const share = total > 0 ? Math.min(1, done / total) : 0;
    const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 60));
    const fill = Math.round(share * width);
    const eta = total > 0 && rate > 0 ? duration((total - done) / rate) : '--:--';
    const pct = total > 0 ? `${(share * 100).toFixed(0).padStart(3)}%` : '';
    stream.write(`${lines ? '' : '\r\x1b[K'}${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct} ${fmt(done)}${total > 0 ? ` / ${fmt(total)}` : ''} ${fmt(rate)}/s ETA ${eta}${lines ? '\n' : ''}`);
  };
  return {
    update(n, t, u) {
      done = n;
      if (t !== undefined) total = t;
      if (u !== undefined) unit = u;
      draw(false);
    },
    finish() {
      if (tty && !lines) stream.write('\r\x1b[K');
    },
    get elapsedMs() {
      return Date.now() - started;
    },
  };
}
