-- KEYS: a subject's preferences. Each set key's 'updated_at|json'.
return redis.call('HGETALL', KEYS[1])
