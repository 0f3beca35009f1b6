-- KEYS: sealing keys. Returns each, or nil once destroyed.
return redis.call('MGET', unpack(KEYS))
