// usertrail/collector: the analytics pipeline's HTTP entry. A handler over
// the standard Request and Response (with Express and Hono adapters, as the
// session middleware has) that reads a batch of events a device's outbox
// leased, and hands it to an engine's `pipeline.collect`, which checks each
// event with the engine's rules and appends it to its subject's partition
// stream in Redis. The HTTP rules (limits, write keys, slow bodies) are
// here; the event rules are the engine's.
//
//   import { collector } from 'usertrail/collector';
//   const trail = await UserTrail.open({ shared: redisStore(redis), tracking: { pipeline: { partitions: 4 } } });
//   const handle = collector(trail, { writeKeys: [process.env.WRITE_KEY] });
//   // fetch servers: export default { fetch: handle }
//
// Answers: 202 `{ results }` once Redis holds every accepted event (one
// result per event, `rejected` ones with their error); 400 for a body that
// is not `{ events: [...] }` JSON; 401 for a missing or wrong write key;
// 405 for another method; 408 for a body that does not arrive in time; 413
// for a body or batch over the limits; 503 while the store is unavailable:
// some, all or none of the batch may have been appended (a command already
// sent to a paused Redis runs when it wakes), so resend it whole: event
// ids make the resend harmless.

import { UserTrailError } from './gen/error.js';
import { requestFromNode, sendToNode, toNodeListener } from './node-http.js';
import { digest, json, keyMatches, problem, readBody } from './http-kit.js';

export { toNodeListener };

/** A refused option: `INVALID_INPUT` naming it. */
const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail/collector: ${message}`, field);

const KNOWN = new Set(['writeKeys', 'maxBodyBytes', 'maxEvents', 'bodyTimeoutMs', 'onError']);

function settings(options = {}) {
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  const int = (name, value, min, max) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw invalid(name, `${name} must be an integer from ${min} to ${max}`);
    }
    return value;
  };
  const keys = options.writeKeys ?? null;
  if (keys !== null && (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k.length >= 16))) {
    throw invalid('writeKeys', 'writeKeys must be a non-empty array of strings of 16 characters or more');
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw invalid('onError', 'onError must be a function');
  }
  return {
    keys,
    maxBodyBytes: int('maxBodyBytes', options.maxBodyBytes ?? 1_048_576, 1024, 64 * 1_048_576),
    maxEvents: int('maxEvents', options.maxEvents ?? 1000, 1, 10_000),
    bodyTimeoutMs: int('bodyTimeoutMs', options.bodyTimeoutMs ?? 10_000, 1, 600_000),
    onError: options.onError ?? ((err) => console.error('usertrail/collector:', err)),
  };
}

/**
 * A fetch handler `(request) => Promise<Response>` that collects batches of
 * forwarded events into `trail`'s pipeline. See the module comment for the
 * answers, and docs/PIPELINE.md.
 */
export function collector(trail, options) {
  const s = settings(options);
  const digests = s.keys ? Promise.all(s.keys.map(digest)) : null;
  return async function collect(request) {
    if (request.method !== 'POST') return problem(405, 'METHOD_NOT_ALLOWED', 'POST a batch: { events: [...] }');
    if (digests) {
      const auth = request.headers.get('authorization') ?? '';
      const key = auth.startsWith('Bearer ') ? auth.slice(7) : request.headers.get('x-write-key');
      if (!(await keyMatches(key, await digests))) return problem(401, 'UNAUTHORIZED', 'a valid write key is required');
    }
    const body = await readBody(request, s.maxBodyBytes, s.bodyTimeoutMs);
    if (body instanceof Response) return body;
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      return problem(400, 'INVALID_INPUT', 'the body is not UTF-8');
    }
    // The engine parses and checks the body (`{ events, batchId?, sentAt? }`)
    // in one step, with the collector's cap on its events.
    try {
      const results = await trail.pipeline.collect(text, { maxEvents: s.maxEvents });
      return json(202, { results });
    } catch (err) {
      if (err?.code === 'STORE_UNAVAILABLE' || err?.code === 'BUSY') {
        return json(503, { error: { code: err.code, message: err.message } }, { 'retry-after': '1' });
      }
      if (err?.code === 'INVALID_INPUT' && err.field === 'events') return problem(413, 'PAYLOAD_TOO_LARGE', err.message);
      // The request's fault; an engine opened without the shared store is the server's.
      if (err?.code === 'INVALID_INPUT' && err.field !== 'shared') return problem(400, err.code, err.message);
      s.onError(err, request);
      return problem(500, err?.code ?? 'INTERNAL', 'the batch could not be collected');
    }
  };
}

/**
 * The body a parser mounted before the collector (`express.json()`,
 * `express.text()`, `express.raw()`) already read, as text or bytes; `null`
 * when nobody read it (the collector reads the stream); a Response when it
 * was read into something the collector cannot use.
 */
function parsedBody(req) {
  if (!req.readableEnded) return null;
  const b = req.body;
  if (typeof b === 'string' || b instanceof Uint8Array) return b;
  // An object is JSON only when it came as JSON (a form parser makes objects too).
  const isJson = /\bjson\b/i.test(String(req.headers['content-type'] ?? ''));
  if (isJson && b !== null && typeof b === 'object') return JSON.stringify(b);
  return problem(
    400,
    'INVALID_INPUT',
    'another middleware read the request body into something other than JSON or text: mount expressCollector before it, or use express.json() or express.text() for this route',
  );
}

/**
 * Express/Connect: `app.post('/collect', expressCollector(trail, options))`.
 * Works before or after a body parser: a body `express.json()`,
 * `express.text()` or `express.raw()` already read is used as it is.
 */
export function expressCollector(trail, options) {
  const handle = collector(trail, options);
  return function usertrailCollector(req, res, next) {
    const parsed = parsedBody(req);
    const send = (response) => sendToNode(res, response);
    if (parsed instanceof Response) {
      send(parsed).catch(next);
      return;
    }
    let request;
    try {
      request = requestFromNode(req, parsed);
    } catch (err) {
      send(problem(err.status ?? 400, err.code ?? 'INVALID_INPUT', String(err.message))).catch(next);
      return;
    }
    handle(request).then(send, (err) => next(err)).catch(next);
  };
}

/**
 * Node's `http`: `createServer(nodeCollector(trail, options))`, the same
 * as `toNodeListener(collector(trail, options))`.
 */
export function nodeCollector(trail, options) {
  return toNodeListener(collector(trail, options));
}

/** Hono: `app.post('/collect', honoCollector(trail, options))`. */
export function honoCollector(trail, options) {
  const handle = collector(trail, options);
  return (c) => handle(c.req.raw);
}
