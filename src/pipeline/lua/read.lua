-- KEYS: a partition's stream. ARGV: the id read up to (exclusive), how many.
-- Returns {entries after it, oldest first, as [id, [k, kind, d, data]]; the
-- stream's length}.
return {redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]), redis.call('XLEN', KEYS[1])}
