-- KEYS: the key that seals renames to an id (its hash names it). ARGV: a
-- new key, kept only if there is none yet. Returns the key every process
-- uses.
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
