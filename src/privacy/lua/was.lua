-- KEYS: the hashes of the names a subject had before rectifications.
return redis.call('SMEMBERS', KEYS[1])
