-- KEYS: values, history. ARGV: how many key/value pairs, the pairs, then
-- history entries. A key the subject already set keeps its value (the
-- user's own choice wins over an anonymous visitor's). Returns how many
-- values were added.
local n = tonumber(ARGV[1])
local added = 0
for i = 2, 1 + 2 * n, 2 do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
for i = 2 + 2 * n, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
return added
