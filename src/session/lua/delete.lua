-- KEYS: session, user index. ARGV: session id. Returns 1 if it existed.
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
