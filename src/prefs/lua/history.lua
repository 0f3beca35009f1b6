-- KEYS: history. Every change, oldest first.
return redis.call('LRANGE', KEYS[1], 0, -1)
