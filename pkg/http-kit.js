// What the package's HTTP handlers (the collector, the dashboard) share:
// JSON answers, key comparison in constant time, and bounded body reads.
// @internal

/** A JSON answer. */
export const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** A failure answer: `{ error: { code, message } }`. */
export const problem = (status, code, message, headers = {}) => json(status, { error: { code, message } }, headers);

const encoder = new TextEncoder();

/** SHA-256 of a key, for comparisons that take the same time wherever they differ. */
export async function digest(text) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/** Whether `given` is one of the keys: every key compared, in constant time per key. */
export async function keyMatches(given, digests) {
  if (typeof given !== 'string' || given.length === 0 || given.length > 512) return false;
  const g = await digest(given);
  let ok = 0;
  for (const d of digests) {
    let diff = 0;
    for (let i = 0; i < d.length; i++) diff |= d[i] ^ g[i];
    ok |= diff === 0 ? 1 : 0;
  }
  return ok === 1;
}

/** The body, at most `max` bytes, within `ms`; or a Response saying why not. */
export async function readBody(request, max, ms) {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) return problem(413, 'PAYLOAD_TOO_LARGE', `the body is over ${max} bytes`);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    for (;;) {
      const step = await Promise.race([reader.read(), late]);
      if (step === 'late') {
        reader.cancel().catch(() => {});
        return problem(408, 'TIMEOUT', `the body did not arrive within ${ms} ms`);
      }
      if (step.done) break;
      size += step.value.byteLength;
      if (size > max) {
        reader.cancel().catch(() => {});
        return problem(413, 'PAYLOAD_TOO_LARGE', `the body is over ${max} bytes`);
      }
      chunks.push(step.value);
    }
  } catch (err) {
    return problem(400, 'INVALID_INPUT', `the body could not be read: ${err?.message ?? err}`);
  } finally {
    clearTimeout(timer);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

