// Node's `http` on one side, the standard Request and Response on the other:
// what lets every fetch-shaped handler of the package (a collector, a
// partition handler, a session-wrapped handler) serve `node:http` as it is.
// Moves bytes; decides nothing.

import { UserTrailError } from './gen/error.js';

/** How much of a request body is read ahead of the handler: Node's own buffering keeps the rest. */
const READ_AHEAD = 64 * 1024;

/** A Node request's headers as `Headers`, leaving out those `skip` names. */
function headersOf(req, skip = []) {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || skip.includes(k)) continue;
    headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
  }
  return headers;
}

/**
 * A request body read from `req` as the handler pulls it: at most
 * READ_AHEAD bytes ahead (the socket is paused past it, so a handler that
 * waits before reading holds no more than that), and a handler that cancels
 * it (a collector past its limit) stops the reading.
 */
function bodyOf(req) {
  let closed = false;
  const finish = () => {
    closed = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
  };
  let controller;
  const onData = (chunk) => {
    if (closed) return;
    controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (controller.desiredSize <= 0) req.pause();
  };
  const onEnd = () => {
    if (closed) return;
    finish();
    controller.close();
  };
  const onError = (err) => {
    if (closed) return;
    finish();
    controller.error(err);
  };
  return new ReadableStream(
    {
      start(c) {
        controller = c;
        req.on('data', onData);
        req.on('end', onEnd);
        req.on('error', onError);
      },
      pull() {
        if (!closed) req.resume();
      },
      cancel() {
        finish();
        req.pause();
      },
    },
    { highWaterMark: READ_AHEAD, size: (chunk) => chunk.byteLength },
  );
}

/** An HTTP failure of the request itself, answered before any handler runs. */
class RequestFault extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * A standard `Request` for a Node `IncomingMessage`. Its body streams in
 * from `req`, or is `body` when a parser already read it.
 * @internal
 */
export function requestFromNode(req, body = null) {
  const method = String(req.method ?? 'GET').toUpperCase();
  if (['CONNECT', 'TRACE', 'TRACK'].includes(method)) throw new RequestFault(405, 'METHOD_NOT_ALLOWED', `${method} is not served`);
  const hasBody = !['GET', 'HEAD'].includes(method);
  // A body a parser decoded may differ in length and encoding from the wire.
  const headers = headersOf(req, body !== null ? ['content-length', 'content-encoding', 'transfer-encoding'] : []);
  // The target is a path ('/p?q'), or in absolute form ('http://host/p?q'),
  // whose path is kept; the host is the Host header's.
  const target = String(req.originalUrl ?? req.url ?? '/');
  let url;
  try {
    const path = target.startsWith('/') ? target : /^https?:\/\//i.test(target) ? new URL(target).pathname + new URL(target).search : null;
    if (path === null) throw new Error('not a path');
    const host = String(req.headers.host ?? 'localhost');
    if (/[@/\\\s]/.test(host)) throw new Error('not a host');
    url = new URL(path, `http://${host}`);
  } catch {
    throw new RequestFault(400, 'INVALID_INPUT', 'the request target or Host header is not valid');
  }
  return new Request(url, {
    method,
    headers,
    body: hasBody ? (body !== null ? body : bodyOf(req)) : undefined,
    duplex: 'half',
  });
}

/**
 * Writes a standard `Response` to a Node `ServerResponse`: status, headers
 * (each Set-Cookie apart), then the body as it streams, waiting for the
 * socket to drain. A 408 or 413 closes the connection after it (the rest
 * of the request body is not read). A client that goes away cancels the
 * body, so its source stops.
 * @internal
 */
export async function sendToNode(res, response) {
  const out = {};
  response.headers.forEach((v, k) => {
    if (k !== 'set-cookie') out[k] = v;
  });
  const cookies = response.headers.getSetCookie?.() ?? [];
  if (cookies.length) out['set-cookie'] = cookies;
  if (response.status === 408 || response.status === 413) out.connection = 'close';
  res.writeHead(response.status, out);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let gone = false;
  let wake = () => {};
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    wake();
    reader.cancel().catch(() => {});
  };
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      if (!res.write(value)) {
        await new Promise((resolve) => {
          wake = resolve;
          res.once('drain', resolve);
        });
        res.off('drain', wake);
        if (gone) break;
      }
    }
  } catch (err) {
    if (!gone) throw err;
  } finally {
    res.off('close', onClose);
  }
  if (!gone) res.end();
}

/** Whether an address is a loopback one (127.0.0.0/8, ::1, or 127.x mapped into IPv6). */
export const isLoopback = (address) =>
  typeof address === 'string' && (address === '::1' || address === 'localhost' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(address));

/**
 * Whether the server `req` arrived on listens on a loopback address only
 * (not `0.0.0.0` or `::`, which take every interface). False when it cannot
 * be known.
 * @internal
 */
export function loopbackOnly(req) {
  try {
    const a = req?.socket?.server?.address?.();
    return a !== null && typeof a === 'object' && isLoopback(a.address);
  } catch {
    return false;
  }
}

/**
 * Serves a fetch handler `(request, info) => Response | Promise<Response>`
 * from Node's `http` (or anything that calls `(req, res)`): a collector, a
 * partition handler, a session-wrapped handler.
 *
 * ```js
 * import { createServer } from 'node:http';
 * createServer(toNodeListener(partitionHandler(part))).listen(3201);
 * ```
 *
 * The handler's second argument is `{ remoteAddress, loopbackOnly }`: the
 * socket's address (for the session middleware's `clientIp`), and whether
 * the server listens on a loopback address only (for the dashboard). The request body
 * streams in as the handler reads it and the response streams out; a
 * request target or method that cannot be a `Request` answers 400 or 405,
 * and a handler that throws answers 500 `{ error: { code, message } }`
 * with the error's code (`INTERNAL` when it has none).
 */
export function toNodeListener(handler) {
  if (typeof handler !== 'function') {
    throw new UserTrailError('INVALID_INPUT', 'toNodeListener needs a handler function: (request) => Response', 'handler');
  }
  return async function nodeListener(req, res) {
    try {
      const response = await handler(requestFromNode(req), { remoteAddress: req.socket?.remoteAddress, loopbackOnly: loopbackOnly(req) });
      if (!(response instanceof Response)) {
        throw new UserTrailError('INTERNAL', 'the handler did not return a Response');
      }
      await sendToNode(res, response);
    } catch (err) {
      if (!res.headersSent) {
        const status = err instanceof RequestFault ? err.status : 500;
        const code = typeof err?.code === 'string' && /^[A-Z_]{2,40}$/.test(err.code) ? err.code : 'INTERNAL';
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code, message: String(err?.message ?? err) } }));
      } else {
        res.destroy(err);
      }
    }
  };
}
