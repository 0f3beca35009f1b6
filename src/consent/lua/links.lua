-- KEYS: a subject's links. The anonymous ids identify linked to it.
return redis.call('SMEMBERS', KEYS[1])
