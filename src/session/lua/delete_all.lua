-- KEYS: user index. ARGV: the slot's session key prefix, a session id to
-- keep ('' for none). Returns how many sessions were deleted.
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[2] then
    n = n + redis.call('DEL', ARGV[1] .. m)
    redis.call('ZREM', KEYS[1], m)
  end
end
return n
