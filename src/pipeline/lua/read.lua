-- KEYS: a partition's stream, its trim mark. ARGV: the id read up to
-- (exclusive), how many. Returns {entries after it, oldest first, as
-- [id, [k, kind, d, data]]; the stream's length; the lowest id a trim
-- kept ('0-0' before any)}.
return {
  redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]),
  redis.call('XLEN', KEYS[1]),
  redis.call('GET', KEYS[2]) or '0-0',
}
