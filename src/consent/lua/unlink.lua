-- KEYS: a user's links. ARGV: an id no longer linked to it (erased).
return redis.call('SREM', KEYS[1], ARGV[1])
