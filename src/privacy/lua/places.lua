-- KEYS: the places, the rights log. ARGV: ids of ephemeral places gone (not
-- seen for long: their data died with them) to forget. Returns {every
-- place's 'position|seen|durable|label' (HGETALL), the server's time in
-- ms, the log's last id or ''}.
for i = 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
local t = redis.call('TIME')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local tail = ''
if last[1] then tail = last[1][1] end
return {redis.call('HGETALL', KEYS[1]), tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tail}
