// Reading JavaScript arguments for the wasm bindings.
//
// Everything that can run a caller's code while an argument is read (a
// getter, `toJSON`, a Proxy trap) runs here, inside try/catch, before the
// engine is touched. A failure comes back as a string starting with NUL
// then `{"field", "reason"}` in JSON, which the bindings turn into
// INVALID_INPUT naming the field; so a hostile argument is a typed error
// and never unwinds through the engine. JSON text never starts with NUL.

/** `text` with any lone surrogate replaced, so that Rust can read it. */
function wellFormed(text) {
  const s = String(text);
  return typeof s.toWellFormed === 'function' ? s.toWellFormed() : s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** `{"field", "reason"}` in JSON, both well-formed. */
function refusal(field, reason) {
  return JSON.stringify({ field: wellFormed(field), reason: wellFormed(reason) });
}

function fail(field, reason) {
  return `\u0000${refusal(field, reason)}`;
}

/**
 * The path of the value at `here` inside the argument `field`, named as the
 * bindings name what serde refuses (src/wasm/input.rs `inside`): inside a
 * call's options object (`options`, `query`, `event`) by its path alone
 * (`data.n`), elsewhere by the whole path (`storage.bytes`, `value.n`).
 */
function pathAt(field, here) {
  if (here === field) return field;
  const path = here.slice(field.length);
  const own = field === 'options' || field === 'query' || field === 'event';
  return own && !path.startsWith('[') ? path.replace(/^\./, '') : here;
}

function describe(err) {
  try {
    return String(err?.message ?? err);
  } catch {
    return 'an exception';
  }
}

/** A value to refuse: why, and the object and key it was read from. */
class Refused {
  constructor(reason, holder, key) {
    this.reason = reason;
    this.holder = holder;
    this.key = key;
  }
}

/** The most bytes one byte value may hold inside a JSON argument. */
const MAX_BYTES = 16 * 1024 * 1024;

function base64(bytes) {
  if (typeof Buffer === 'function') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Why `v` cannot be said in JSON faithfully, or null. */
function refused(v) {
  switch (typeof v) {
    case 'bigint':
      return 'must not be a BigInt';
    case 'symbol':
      return 'must not be a Symbol';
    case 'function':
      return 'must not be a function';
    case 'number':
      return Number.isFinite(v) ? null : 'must be a finite number';
    default:
      return null;
  }
}

/** The bytes of a byte array or view, or of an `ArrayBuffer`. */
function bytesIn(v) {
  return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

/**
 * `{"$bytes": base64}` of `v`'s bytes, or a `Refused` (read from `holder`
 * at `key`) past `MAX_BYTES`, before any is encoded.
 */
function asBytes(v, holder, key) {
  const bytes = bytesIn(v);
  if (bytes.byteLength > MAX_BYTES) {
    throw new Refused(`must be at most ${MAX_BYTES} bytes (it holds ${bytes.byteLength})`, holder, key);
  }
  return { $bytes: base64(bytes) };
}

const BYTES = 1;
const NOT_JSON = {
  '[object Map]': 'must not be a Map (JSON would store it as {}; pass Object.fromEntries(map))',
  '[object Set]': 'must not be a Set (JSON would store it as {}; pass [...set])',
  '[object WeakMap]': 'must not be a WeakMap (JSON would store it as {})',
  '[object WeakSet]': 'must not be a WeakSet (JSON would store it as {})',
  '[object Promise]': 'must not be a Promise (JSON would store it as {}; await it first)',
  '[object Error]': 'must not be an Error (JSON would store it as {}; pass { name: err.name, message: err.message })',
  '[object RegExp]': 'must not be a RegExp (JSON would store it as {}; pass its source text)',
};
for (const name of ['WeakRef', 'Generator', 'AsyncGenerator', 'Symbol']) {
  NOT_JSON[`[object ${name}]`] = `must not be a ${name} (JSON would store it as {})`;
}

/** Collections known by their internal slots, whatever their tag or prototype says. */
const BRANDS = [
  [Map.prototype.has, '[object Map]'],
  [Set.prototype.has, '[object Set]'],
  [WeakMap.prototype.has, '[object WeakMap]'],
  [WeakSet.prototype.has, '[object WeakSet]'],
];

const BRAND_TAGS = new Set(BRANDS.map(([, tag]) => tag));

/**
 * The same checks without an exception, where the host has them (Node's
 * `util.types`, read through `process.getBuiltinModule`; Deno has it too):
 * about 10 ns an object where a thrown `TypeError` costs microseconds, so
 * they can run on every object, plain ones too (a Map given
 * `Object.prototype`). Null where the host has none (browsers, workerd
 * without Node compatibility), where `BRANDS` throw.
 */
const NODE_TYPES = (() => {
  try {
    const types = globalThis.process?.getBuiltinModule?.('node:util')?.types;
    return types && typeof types.isMap === 'function' && typeof types.isProxy === 'function' ? types : null;
  } catch {
    return null;
  }
})();
const NODE_BRANDS =
  NODE_TYPES &&
  [
    [NODE_TYPES.isMap, '[object Map]'],
    [NODE_TYPES.isSet, '[object Set]'],
    [NODE_TYPES.isWeakMap, '[object WeakMap]'],
    [NODE_TYPES.isWeakSet, '[object WeakSet]'],
  ];

/** The tag of the collection `v` is (a Map subclass with its own tag, a Map without its prototype), or null. */
function brand(v) {
  if (NODE_BRANDS !== null) {
    for (const [is, tag] of NODE_BRANDS) if (is(v)) return tag;
    return null;
  }
  // Each check that fails throws: without a stack trace to capture, that
  // costs half as much (V8).
  const limit = Error.stackTraceLimit;
  const set = (n) => {
    try {
      if (typeof limit === 'number') Error.stackTraceLimit = n;
    } catch {
      // frozen: the traces are captured
    }
  };
  set(0);
  try {
    for (const [has, tag] of BRANDS) {
      try {
        has.call(v, undefined);
        return tag;
      } catch {
        // not one
      }
    }
    return null;
  } finally {
    set(limit);
  }
}

/**
 * For an object that `JSON.stringify` would not write as it holds it: BYTES
 * for bytes (a typed array, a `DataView`, an `ArrayBuffer`), or why it is
 * refused (a Map, a Set, a Promise, an Error, a RegExp, an iterator:
 * JSON would write `{}`); else null.
 * Plain objects and arrays are told apart by their prototype, which runs
 * no getter (in Node, their internal slots are checked too); other
 * objects (those without a prototype too) by their tag, then by their
 * internal slots (a Map subclass with a tag of its own).
 */
function objectKind(v) {
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === Array.prototype) {
    // Where the check throws nothing, a collection given a plain prototype
    // is found too.
    if (NODE_BRANDS === null) return null;
    const branded = brand(v);
    if (branded !== null) return NOT_JSON[branded];
    // A Proxy that says its prototype is a plain one can still be over a
    // collection: its tag tells (below).
    if (!NODE_TYPES.isProxy(v)) return null;
  }
  if (ArrayBuffer.isView(v)) return BYTES;
  const tag = Object.prototype.toString.call(v);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return BYTES;
  // Where a brand check that fails throws (microseconds each), only the
  // objects most likely to hide a collection are checked: those without a
  // prototype, and those with no own keys (which JSON writes as {}); a
  // class instance with fields is written as its fields.
  if (NODE_BRANDS !== null || proto === null || Object.keys(v).length === 0) {
    const branded = brand(v);
    if (branded !== null) return NOT_JSON[branded];
  }
  // Says it is a collection and is not one: a class of its own with fields
  // is written as them; one with none (a Proxy over a Map, whose entries
  // JSON cannot reach) is refused as what it says it is.
  if (BRAND_TAGS.has(tag)) return Object.keys(v).length === 0 ? NOT_JSON[tag] : null;
  if (NOT_JSON[tag] !== undefined) return NOT_JSON[tag];
  if (tag.endsWith(' Iterator]')) return `must not be an iterator (JSON would store it as {}; pass [...it])`;
  if (v instanceof Error) return NOT_JSON['[object Error]'];
  return null;
}

/**
 * What `holder[key]` held before its `toJSON` ran, when that is a byte
 * view and `v`, what `toJSON` gave, looks like a Node `Buffer`'s
 * (`{ type: 'Buffer', data }`): read through the property's descriptor,
 * so no getter runs again. Else undefined.
 */
function bufferBefore(holder, key, v) {
  if (!Object.hasOwn(v, 'type') || !Object.hasOwn(v, 'data')) return undefined;
  const d = Object.getOwnPropertyDescriptor(holder, key);
  return d !== undefined && 'value' in d && ArrayBuffer.isView(d.value) ? d.value : undefined;
}

/**
 * Whether `holder[key]`, which JSON read as null, is a `Date` whose time is
 * NaN (its `toJSON` gives null): read through the property's descriptor,
 * so no getter runs again; a holder that throws for it (a Proxy) is not
 * one.
 */
function invalidDate(holder, key) {
  try {
    const d = Object.getOwnPropertyDescriptor(holder, key);
    if (d === undefined || !('value' in d) || d.value === null || typeof d.value !== 'object') return false;
    return Number.isNaN(Date.prototype.getTime.call(d.value));
  } catch {
    return false;
  }
}

/**
 * `JSON.stringify`'s replacer for the common case: it checks types and
 * converts bytes (byte arrays, `ArrayBuffer`s, Node `Buffer`s: as
 * themselves while `buffersAsThemselves` runs, else after their `toJSON`
 * ran, found by `bufferBefore`), and tracks no path. A value it refuses
 * throws a `Refused` naming where it was read from, which
 * `whereReadingFails` turns into a path.
 */
function checked(key, v) {
  const why = refused(v);
  if (why !== null) throw new Refused(why, this, key);
  if (v === null) {
    if (invalidDate(this, key)) throw new Refused('must be a valid Date (its time is NaN; JSON would store null)', this, key);
    return v;
  }
  if (typeof v !== 'object') return v;
  const kind = objectKind(v);
  if (kind === BYTES) return asBytes(v, this, key);
  if (kind !== null) throw new Refused(kind, this, key);
  const buffer = Object.getPrototypeOf(v) === Object.prototype ? bufferBefore(this, key, v) : undefined;
  return buffer === undefined ? v : asBytes(buffer, this, key);
}

/**
 * `value` as JSON text, or a failure (see `fail`). What JSON cannot say
 * faithfully is refused, naming its path inside the argument: BigInts,
 * Symbols, functions, non-finite numbers, cycles; so is a value whose
 * reading throws (a getter, `toJSON`, a Proxy trap). Byte arrays become
 * `{"$bytes": base64}`. Keys in `omit` are skipped at the top level
 * (options read separately, such as callbacks). With `defined`, a
 * top-level key whose value is `undefined` (which JSON drops) is refused
 * as required: an object of entries (`prefs.setMany`), not of options.
 */
export function toJson(value, field, omit, maxText, defined = false) {
  const r = read(value, field, omit, defined);
  if (r.text !== undefined && r.text.length > maxText) return fail(field, tooLarge(r.text.length, maxText));
  return r.text ?? fail(r.field, r.reason);
}

/**
 * Why JSON text of `units` UTF-16 units is refused, past `max` bytes (a
 * unit is at least a byte of UTF-8, so the text is at least that long).
 */
function tooLarge(units, max) {
  return `is too large: at least ${units} bytes of JSON, at most ${max}`;
}

/**
 * `value` read once as JSON: `{ text }`, or `{ field, reason }`. A value
 * that fails is read again only to find where (so a getter runs twice
 * then), and fails whatever that second reading finds: what is stored is
 * what was read the first time.
 */
function read(value, field, omit, defined) {
  return buffersAsThemselves(() => {
    let first;
    try {
      const text = omit || defined ? withOmitted(value, omit ?? [], defined) : JSON.stringify(value, checked);
      if (text === undefined) return { field, reason: 'is required' };
      return { text };
    } catch (err) {
      first = err;
    }
    const reason = first instanceof Refused ? first.reason : `could not be read: ${describe(first)}`;
    const at = whereReadingFails(value, field, omit, first instanceof Refused ? first : null);
    if (at === null) return { field, reason };
    return { field: pathAt(field, at.here), reason: at.reason ?? reason };
  });
}

/** Node's `Buffer`, or null where there is none. */
const NodeBuffer = typeof Buffer === 'function' && Buffer.prototype instanceof Uint8Array ? Buffer : null;

function itself() {
  return this;
}

/**
 * `f()`, with Node's `Buffer.prototype.toJSON` giving the buffer itself,
 * so that the replacer sees it as bytes (size checked, then base64):
 * Node's own `toJSON` writes `{ type: 'Buffer', data }`, an array of one
 * number per byte, before a replacer is called (a buffer of 420 MB ran
 * the process out of memory). Restored after, however `f` ends; nested
 * reads (a getter that calls the engine) restore in turn. Where the
 * prototype cannot be changed, Buffers are still found, after their
 * `toJSON` ran (`bufferBefore`).
 */
function buffersAsThemselves(f) {
  if (NodeBuffer === null) return f();
  const own = Object.getOwnPropertyDescriptor(NodeBuffer.prototype, 'toJSON');
  try {
    Object.defineProperty(NodeBuffer.prototype, 'toJSON', { value: itself, writable: true, configurable: true, enumerable: false });
  } catch {
    return f();
  }
  try {
    return f();
  } finally {
    if (own) Object.defineProperty(NodeBuffer.prototype, 'toJSON', own);
    else delete NodeBuffer.prototype.toJSON;
  }
}

/**
 * `JSON.stringify` of `value` without the top-level keys in `omit`; with
 * `defined`, a top-level `undefined` value is refused.
 */
function withOmitted(value, omit, defined) {
  let top = null;
  return JSON.stringify(value, function (key, v) {
    if (top === null && key === '') {
      if (v !== null && typeof v === 'object') top = v;
    } else if (this === top && omit.includes(key)) {
      return undefined;
    } else if (defined && this === top && v === undefined) {
      throw new Refused('is required', this, key);
    }
    return checked.call(this, key, v);
  });
}

/**
 * Where reading `value` as `JSON.stringify` does fails: `{ here, reason }`
 * for a value to refuse, `{ here }` where a getter, `toJSON` or Proxy trap
 * throws or a cycle closes; null if nothing fails now (the reads run
 * again) or the value is too big to look through. With `target`, the
 * refusal the first reading met: the path of the object it was read from
 * (found by identity, so a value that reads differently the second time
 * is still named where it was refused).
 */
function whereReadingFails(value, field, omit, target) {
  let budget = 100000;
  const open = new Set();
  const walk = (v, key, here, top) => {
    if (--budget < 0) return null;
    if (target && v === target.holder) {
      return { here: Array.isArray(v) ? `${here}[${target.key}]` : `${here}.${target.key}` };
    }
    try {
      if (v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.toJSON === 'function') {
        v = v.toJSON(key);
      }
    } catch {
      return { here };
    }
    const why = refused(v);
    if (why !== null) return target ? null : { here, reason: why };
    if (v === null || typeof v !== 'object') return null;
    let kind;
    try {
      kind = objectKind(v);
    } catch {
      return { here };
    }
    if (kind === BYTES) return null;
    if (kind !== null) return target ? null : { here, reason: kind };
    if (open.has(v)) return { here, reason: 'must not hold itself (a cycle)' };
    open.add(v);
    try {
      let keys;
      let list;
      try {
        list = Array.isArray(v);
        keys = list ? Array.from({ length: v.length }, (_, i) => String(i)) : Object.keys(v);
      } catch {
        return { here };
      }
      for (const k of keys) {
        if (omit && top && omit.includes(k)) continue;
        const at = list ? `${here}[${k}]` : `${here}.${k}`;
        let child;
        try {
          child = v[k];
        } catch {
          return { here: at };
        }
        const found = walk(child, k, at, false);
        if (found !== null) return found;
      }
      return null;
    } finally {
      open.delete(v);
    }
  };
  try {
    // The value itself refused: its holder is JSON.stringify's own wrapper.
    if (target && target.key === '') return { here: field };
    return walk(value, '', field, true);
  } catch {
    return null;
  }
}

/**
 * Each element of the array `value` as JSON, so that one bad element fails
 * only itself: one line per element, either its JSON text or `\u0001`
 * followed by `{"field", "reason"}` in JSON, where `field` is `item` or a
 * path inside it (the core prefixes the element's place); no line for an
 * empty array. JSON text never holds a raw line feed or U+0001, so the
 * lines split exactly, and each element is parsed once, alone: one the
 * engine refuses to parse fails alone. A failure (see `fail`) when `value`
 * is not an array or has more than `max` elements, before any is read, or
 * when its text passes `maxTotal`; an element whose text passes
 * `maxElement` fails alone.
 */
export function toJsonEach(value, field, item, max, maxElement, maxTotal) {
  let n;
  try {
    if (!Array.isArray(value)) return fail(field, 'must be an array');
    n = value.length;
  } catch (err) {
    return fail(field, `could not be read: ${describe(err)}`);
  }
  if (!(n <= max)) return fail(field, `at most ${max} events per batch`);
  // A Proxy over an array can claim any length.
  if (!Number.isInteger(n) || n < 0) return fail(field, 'must be an array');
  const lines = new Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let r;
    try {
      r = read(value[i], item);
    } catch (err) {
      r = { field: item, reason: `could not be read: ${describe(err)}` };
    }
    if (r.text !== undefined && r.text.length > maxElement) r = { field: item, reason: tooLarge(r.text.length, maxElement) };
    lines[i] = r.text ?? `\u0001${refusal(r.field, r.reason)}`;
    total += lines[i].length + 1;
    if (total > maxTotal) return fail(field, `${tooLarge(total, maxTotal)} in all: send fewer events per call`);
  }
  return lines.join('\n');
}

/**
 * A fresh array of the elements of the array `value`, each read inside
 * try/catch, for an argument whose elements are read one at a time (each
 * as its own JSON text); or a refusal: not an array, more than `max`
 * elements, an element whose read threw.
 */
export function elementsOf(value, field, max) {
  let n;
  try {
    if (!Array.isArray(value)) return fail(field, 'must be an array');
    n = value.length;
  } catch (err) {
    return fail(field, `could not be read: ${describe(err)}`);
  }
  // A Proxy over an array can claim any length.
  if (!Number.isInteger(n) || n < 0) return fail(field, 'must be an array');
  if (n > max) return fail(field, `must hold at most ${max} elements (it holds ${n})`);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    try {
      out[i] = value[i];
    } catch (err) {
      return fail(`${field}[${i}]`, `could not be read: ${describe(err)}`);
    }
  }
  return out;
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
