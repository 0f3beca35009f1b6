-- KEYS: session, user index. ARGV: user id, session id. Deletes the
-- session if it is that user's. Returns 1 if it did.
if redis.call('HGET', KEYS[1], 'u') ~= ARGV[1] then return 0 end
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return n
