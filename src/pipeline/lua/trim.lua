-- KEYS: a partition's stream. ARGV: the lowest id to keep. Entries below
-- it (committed by the partition) go. Returns how many.
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
