// Reading JavaScript arguments for the wasm bindings.
//
// Everything that can run a caller's code while an argument is read (a
// getter, `toJSON`, a Proxy trap) runs here, inside try/catch, before the
// engine is touched. A failure comes back as a string starting with NUL,
// `\0field\0reason`, which the bindings turn into INVALID_INPUT naming the
// field; so a hostile argument is a typed error and never unwinds through
// the engine. JSON text never starts with NUL.

function fail(field, reason) {
  return `\u0000${field}\u0000${reason}`;
}

/**
 * The failure of the value at `here` inside the argument `field`, named as
 * the bindings name what serde refuses (src/wasm/input.rs `inside`): inside
 * a call's options object (`options`, `query`, `event`) by its path alone
 * (`data.n`), elsewhere by the whole path (`storage.bytes`, `value.n`).
 */
function failAt(field, here, reason) {
  if (here === field) return fail(field, reason);
  const path = here.slice(field.length);
  const own = field === 'options' || field === 'query' || field === 'event';
  return fail(own && !path.startsWith('[') ? path.replace(/^\./, '') : here, reason);
}

function describe(err) {
  try {
    return String(err?.message ?? err);
  } catch {
    return 'an exception';
  }
}

class Refused {
  constructor(field, reason) {
    this.field = field;
    this.reason = reason;
  }
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * `JSON.stringify`'s replacer for values with nothing to refuse or convert:
 * it throws at anything the tracked reading below would (or would turn
 * into `$bytes`), so that reading names the path.
 */
function plainOnly(key, v) {
  switch (typeof v) {
    case 'bigint':
    case 'symbol':
    case 'function':
      throw plainOnly;
    case 'number':
      if (!Number.isFinite(v)) throw plainOnly;
      return v;
    case 'object':
      if (v !== null && ArrayBuffer.isView(v)) throw plainOnly;
      return v;
    default:
      return v;
  }
}

/**
 * `value` as JSON text, or `\0field\0reason`. What JSON cannot say faithfully
 * is refused, the reason naming its path inside the argument: BigInts,
 * Symbols, functions, non-finite numbers, cycles. Byte arrays become `{"$bytes": base64}`. Keys in `omit` are
 * skipped at the top level (options read separately, such as callbacks).
 */
export function toJson(value, field, omit) {
  if (!omit) {
    // The common case first: nothing to refuse, no path to track. Anything
    // else (a value to refuse, a throwing getter, a cycle) is read again
    // below, which names the path.
    try {
      const text = JSON.stringify(value, plainOnly);
      if (text !== undefined) return text;
    } catch {
      // read again below
    }
  }
  const paths = new WeakMap();
  let top = null;
  try {
    const text = JSON.stringify(value, function (key, v) {
      let here;
      if (top === null && key === '') {
        here = field;
        if (v !== null && typeof v === 'object') top = v;
      } else {
        const base = paths.get(this) ?? field;
        here = Array.isArray(this) ? `${base}[${key}]` : `${base}.${key}`;
        if (omit && this === top && omit.includes(key)) return undefined;
      }
      switch (typeof v) {
        case 'bigint':
          throw new Refused(here, 'must not be a BigInt');
        case 'symbol':
          throw new Refused(here, 'must not be a Symbol');
        case 'function':
          throw new Refused(here, 'must not be a function');
        case 'number':
          if (!Number.isFinite(v)) throw new Refused(here, 'must be a finite number');
          break;
        case 'object':
          if (v === null) break;
          if (ArrayBuffer.isView(v)) return { $bytes: base64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
          paths.set(v, here);
          break;
      }
      return v;
    });
    return text === undefined ? fail(field, 'is required') : text;
  } catch (err) {
    if (err instanceof Refused) return failAt(field, err.field, err.reason);
    return fail(field, `could not be read: ${describe(err)}`);
  }
}

/**
 * Each element of the array `value` as JSON, so that one bad element fails
 * only itself: one line per element, either its JSON text or `\u0001`
 * followed by `{"err": reason, "field": item}` in JSON, where `item` names
 * the element (the core prefixes its place); no line for an empty array.
 * JSON text never holds a raw line feed or U+0001, so the lines split
 * exactly, and each element is parsed once, alone: one the engine refuses
 * to parse (a lone surrogate, say) fails alone.
 * `\0field\0reason` when `value` is not an array.
 */
export function toJsonEach(value, field, item) {
  try {
    if (!Array.isArray(value)) return fail(field, 'must be an array');
    const n = value.length;
    if (!(n <= 1e6)) return fail(field, 'is too long');
    const lines = new Array(n);
    for (let i = 0; i < n; i++) {
      const one = toJson(value[i], item);
      if (one.charCodeAt(0) === 0) {
        const [, f, reason] = one.split('\u0000');
        lines[i] = `\u0001${JSON.stringify({ err: reason, field: f })}`;
      } else {
        lines[i] = one;
      }
    }
    return lines.join('\n');
  } catch (err) {
    return fail(field, `could not be read: ${describe(err)}`);
  }
}

/** `obj[key]`, for reading one option that is not JSON (a function, bytes). */
export function prop(obj, key) {
  return obj[key];
}

/** A genuine `Uint8Array` over the bytes of `value`, or undefined for anything else. */
export function bytesOf(value) {
  if (!ArrayBuffer.isView(value) || !(value instanceof Uint8Array)) return undefined;
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}
