// The `equals` of a segment from text a person typed: the dashboard's
// segment box and the CLI's `--segment field=value` read it alike. A stored
// field (`name`, `type`, `path`, `url`, `referrer`, `browser`, `os`,
// `device`) is text. A property or a dimension is a number, `true` or
// `false` when the text is one, else the text; quoted (`"3"`) it is the
// text inside the quotes, for a property stored as the text "3".

/**
 * @param {string} property the segment's property (`path`, `properties.plan`, …)
 * @param {string} raw the text typed
 * @returns {string | number | boolean}
 */
export function segmentValue(property, raw) {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try {
      const text = JSON.parse(raw);
      if (typeof text === 'string') return text;
    } catch {
      // Not a JSON string: the text as typed.
    }
  }
  if (!/^(properties|dimensions)\./.test(property)) return raw;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return raw;
}
