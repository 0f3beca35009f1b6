-- KEYS: session. The whole record, state included.
return redis.call('HGETALL', KEYS[1])
