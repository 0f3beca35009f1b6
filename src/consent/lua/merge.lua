-- KEYS: a user's state, its links. ARGV: the anonymous id linked ('' to
-- link nothing: a rename), then purpose/value pairs of that id's
-- decisions. Each counts for the user where it is newer than the user's
-- own (the latest decision wins).
if ARGV[1] ~= '' then redis.call('SADD', KEYS[2], ARGV[1]) end
local n = 0
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local at_new = tonumber(string.match(ARGV[i + 1], '^[^|]*|([^|]*)|'))
  local at_cur = cur and tonumber(string.match(cur, '^[^|]*|([^|]*)|'))
  if not at_cur or (at_new and at_new > at_cur) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    n = n + 1
  end
end
return n
