-- KEYS: the pipeline's workers (a sorted set: worker -> until, ms of the
-- server's clock) and their URLs (a hash). ARGV: this worker, its URL, how
-- long its entry lasts (ms; '0': it leaves now). Entries past their time
-- go, and so do earlier incarnations of this worker's name (`name#...`).
-- Returns the live workers and URLs, flat: {worker, url, ...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if ttl == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  -- A worker restarted under its name replaces its earlier incarnation.
  local name = string.match(ARGV[1], '^([^#]*)')
  for _, w in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if w ~= ARGV[1] and string.match(w, '^([^#]*)') == name then
      redis.call('ZREM', KEYS[1], w)
      redis.call('HDEL', KEYS[2], w)
    end
  end
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))) do
  redis.call('HDEL', KEYS[2], w)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
local out = {}
for _, w in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = w
  out[#out + 1] = redis.call('HGET', KEYS[2], w) or ''
end
return out
