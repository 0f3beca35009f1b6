// Node's `http` on one side, the standard Request and Response on the other:
// what lets every fetch-shaped handler of the package (a collector, a
// partition handler, a session-wrapped handler) serve `node:http` as it is.
// Moves bytes; decides nothing.

import { UserTrailError } from './gen/error.js';

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
 * A standard `Request` for a Node `IncomingMessage`. Its body streams in
 * from `req` (a handler that stops reading, as a collector past its limit
 * does, pauses it), or is `body` when a parser already read it.
 * @internal
 */
export function requestFromNode(req, body = null) {
  const hasBody = !['GET', 'HEAD'].includes(req.method);
  // A body a parser decoded may differ in length and encoding from the wire.
  const headers = headersOf(req, body !== null ? ['content-length', 'content-encoding', 'transfer-encoding'] : []);
  const stream =
    body !== null
      ? body
      : new ReadableStream({
          start(controller) {
            req.on('data', (chunk) => controller.enqueue(new Uint8Array(chunk)));
            req.on('end', () => controller.close());
            req.on('error', (err) => controller.error(err));
          },
          cancel() {
            req.pause();
          },
        });
  const url = `http://${req.headers.host ?? 'localhost'}${req.originalUrl ?? req.url}`;
  return new Request(url, { method: req.method, headers, body: hasBody ? stream : undefined, duplex: 'half' });
}

/**
 * Writes a standard `Response` to a Node `ServerResponse`: status, headers
 * (each Set-Cookie apart), then the body as it streams. A 408 or 413 closes
 * the connection after it (the rest of the request body is not read).
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
  if (response.body) {
    for await (const chunk of response.body) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
  }
  res.end();
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
 * The handler's second argument is `{ remoteAddress }`, the socket's
 * address (for the session middleware's `clientIp`). The request body
 * streams in and the response streams out; a handler that throws answers
 * 500 `{ error: { code, message } }` with the error's code (`INTERNAL` when
 * it has none).
 */
export function toNodeListener(handler) {
  if (typeof handler !== 'function') {
    throw new UserTrailError('INVALID_INPUT', 'toNodeListener needs a handler function: (request) => Response', 'handler');
  }
  return async function nodeListener(req, res) {
    try {
      const response = await handler(requestFromNode(req), { remoteAddress: req.socket?.remoteAddress });
      if (!(response instanceof Response)) {
        throw new UserTrailError('INTERNAL', 'the handler did not return a Response');
      }
      await sendToNode(res, response);
    } catch (err) {
      if (!res.headersSent) {
        const code = typeof err?.code === 'string' ? err.code : 'INTERNAL';
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code, message: String(err?.message ?? err) } }));
      } else {
        res.destroy(err);
      }
    }
  };
}
