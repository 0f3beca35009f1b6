// What the browser client (browser.js) and its worker (browser-worker.js)
// share: how errors and callbacks cross postMessage and BroadcastChannel.

import { UserTrailError } from './gen/error.js';

/**
 * The messages of the browser protocol, by `type`.
 *
 * Page to its worker: `CONNECT` (open or join the engine), `CALL`, `CLOSE`.
 * Worker to its page: `READY` (with the engine's method list), `FAILED`,
 * `INFO`, `ROLE` (leader or not), `REPLY`, `CALLBACK`, `CLOSED`.
 * Worker to worker, on the BroadcastChannel named after the database:
 * `WHO` (asks the leader to announce itself), `LEADER`, `CALL`, `REPLY`,
 * `CALLBACK`.
 */
export const MSG = Object.freeze({
  CONNECT: 'connect',
  CALL: 'call',
  CLOSE: 'close',
  READY: 'ready',
  FAILED: 'failed',
  INFO: 'info',
  ROLE: 'role',
  REPLY: 'reply',
  CALLBACK: 'callback',
  CLOSED: 'closed',
  WHO: 'who',
  LEADER: 'leader',
});

/** The key that marks a function argument replaced by a callback number. */
export const CALLBACK = '__usertrailCallback';

/** An error as plain data, so that `code` and `field` survive structured cloning. */
export function encodeError(err) {
  if (err instanceof UserTrailError || (err && typeof err.code === 'string' && err.name === 'UserTrailError')) {
    return { name: 'UserTrailError', code: err.code, message: err.message, field: err.field };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * The error `encodeError` described, always a `UserTrailError`: one keeps
 * its code and field; any other failure on the engine's side (a bug, not a
 * refusal) arrives as `INTERNAL`, its message naming what it was.
 */
export function decodeError(e) {
  if (e.name === 'UserTrailError') return new UserTrailError(e.code, e.message, e.field);
  return new UserTrailError('INTERNAL', `${e.name ?? 'Error'}: ${e.message}`);
}

/** A `UserTrailError` made on this side of the channel. */
export function error(code, message, field) {
  return new UserTrailError(code, message, field);
}

/**
 * Replaces the functions among `args`, and among the own properties of plain
 * object arguments (such as `{ onProgress }`), with numbered markers.
 * Returns the cloneable arguments and the functions, by number.
 */
export function encodeArgs(args) {
  const fns = [];
  const mark = (fn) => ({ [CALLBACK]: fns.push(fn) - 1 });
  const plain = (v) => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
  const out = args.map((a) => {
    if (typeof a === 'function') return mark(a);
    if (!plain(a) || !Object.values(a).some((v) => typeof v === 'function')) return a;
    const copy = {};
    for (const [k, v] of Object.entries(a)) copy[k] = typeof v === 'function' ? mark(v) : v;
    return copy;
  });
  return { args: out, fns };
}

/** The inverse of `encodeArgs` on the engine's side: markers become `call(n, args)`. */
export function decodeArgs(args, call) {
  const isMark = (v) => v !== null && typeof v === 'object' && typeof v[CALLBACK] === 'number';
  const fn = (m) => (...a) => call(m[CALLBACK], a);
  return args.map((a) => {
    if (isMark(a)) return fn(a);
    if (a === null || typeof a !== 'object' || Array.isArray(a) || ArrayBuffer.isView(a)) return a;
    if (!Object.values(a).some(isMark)) return a;
    const copy = {};
    for (const [k, v] of Object.entries(a)) copy[k] = isMark(v) ? fn(v) : v;
    return copy;
  });
}
