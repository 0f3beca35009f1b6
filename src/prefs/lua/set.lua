-- KEYS: values, history. ARGV: now, the source (JSON text), then key/value
-- pairs (keys are letters, digits, '.', '_', '-'; values JSON text, checked
-- by the engine). All in one step; a value equal to the current one is
-- not a change. Returns the keys changed.
local changed = {}
for i = 3, #ARGV, 2 do
  local k, v = ARGV[i], ARGV[i + 1]
  local cur = redis.call('HGET', KEYS[1], k)
  local old = cur and string.match(cur, '^%-?%d+|(.*)$')
  if old ~= v then
    redis.call('HSET', KEYS[1], k, ARGV[1] .. '|' .. v)
    redis.call('RPUSH', KEYS[2], '{"key":"' .. k .. '","oldValue":' .. (old or 'null') ..
      ',"newValue":' .. v .. ',"at":' .. ARGV[1] .. ',"source":' .. ARGV[2] .. '}')
    changed[#changed + 1] = k
  end
end
return changed
