-- KEYS: user index. ARGV: the slot's session key prefix. The fields of
-- each of the user's sessions, pruning the index of those gone.
local out = {}
for _, m in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local r = meta(ARGV[1] .. m)
  if r[1] == false then redis.call('ZREM', KEYS[1], m) else out[#out + 1] = r end
end
return out
