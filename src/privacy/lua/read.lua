-- KEYS: the rights log. ARGV: the position read up to (exclusive), how many.
-- Returns {entries after it, oldest first, as [id, [k, kind, d, data]];
-- the server's time in ms}.
local t = redis.call('TIME')
return {redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]),
  tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
