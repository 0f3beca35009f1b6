// Building the objects the wasm bindings return, for the calls a server makes
// on every request: a session built here field by field costs a third of
// serialising it to JSON in wasm and parsing that text here.

/**
 * A session as `validate`, `create` and friends return it: the same keys, in
 * the same order, as its JSON (`token` first when given; the two flags only
 * when set).
 */
export function sessionOf(token, sessionId, userId, createdAt, lastSeenAt, idleExpiresAt, absoluteExpiresAt, idleTimeoutMs, version, ip, browser, os, device, fingerprintMismatch, renewed) {
  // wasm-bindgen passes a Rust `None` as `undefined`; JSON said `null`.
  userId ??= null;
  const client = { ip: ip ?? null, browser, os, device };
  const s =
    token === undefined
      ? { sessionId, userId, createdAt, lastSeenAt, idleExpiresAt, absoluteExpiresAt, idleTimeoutMs, version, client }
      : { token, sessionId, userId, createdAt, lastSeenAt, idleExpiresAt, absoluteExpiresAt, idleTimeoutMs, version, client };
  if (fingerprintMismatch) s.fingerprintMismatch = true;
  if (renewed) s.renewed = true;
  return s;
}

/**
 * `part` (`trail.sessions`, …), which the engine hands out at every read:
 * `free()` or `Symbol.dispose` on it would end it for every later read, so
 * they leave it be; the engine's own finalizer frees it.
 */
export function kept(part) {
  part.free = function free() {};
  if (Symbol.dispose) part[Symbol.dispose] = function dispose() {};
  return part;
}
