-- KEYS: a subject's consent state, the key of the user it is linked to.
-- Returns {its decisions and '@head' (HGETALL), the user or nil}.
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2])}
