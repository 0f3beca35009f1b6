-- KEYS: the places. ARGV: a place's id, forgotten: a machine that will not
-- come back. Returns 1 if it was known.
return redis.call('HDEL', KEYS[1], ARGV[1])
