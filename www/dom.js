// A tiny DOM builder: text is always set as text, never parsed as HTML.

/** `h('button', { class: 'x', onclick }, 'Label', child)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** A number with thousands separators, in the page's language. */
export const num = (n, digits = 0) =>
  n === null || n === undefined ? '–' : Number(n).toLocaleString(document.documentElement.lang, { maximumFractionDigits: digits });

/** A price in euros from cents. */
export const money = (cents) =>
  (cents / 100).toLocaleString(document.documentElement.lang, { style: 'currency', currency: 'EUR' });

/** Milliseconds as "3 min 20 s". */
export function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
