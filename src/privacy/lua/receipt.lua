-- KEYS: the rights log, an entry's record of what each place did. ARGV: the
-- entry's id. Returns {[id, [k, kind, d, data]] or nothing, what each place
-- did (HGETALL)}.
return {redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]), redis.call('HGETALL', KEYS[2])}
