-- KEYS: values, history. ARGV: now, the source (JSON text), a key ('' for
-- all). Returns the keys reset to their default.
local keys
if ARGV[3] ~= '' then keys = {ARGV[3]} else keys = redis.call('HKEYS', KEYS[1]) end
local out = {}
for _, k in ipairs(keys) do
  local cur = redis.call('HGET', KEYS[1], k)
  if cur then
    local old = string.match(cur, '^%-?%d+|(.*)$') or 'null'
    redis.call('HDEL', KEYS[1], k)
    redis.call('RPUSH', KEYS[2], '{"key":"' .. k .. '","oldValue":' .. old ..
      ',"newValue":null,"at":' .. ARGV[1] .. ',"source":' .. ARGV[2] .. '}')
    out[#out + 1] = k
  end
end
return out
