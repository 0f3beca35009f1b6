-- KEYS: values, history. Returns {how many values there were, how many
-- history entries}.
local n = redis.call('HLEN', KEYS[1])
local h = redis.call('LLEN', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {n, h}
