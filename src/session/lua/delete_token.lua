-- KEYS: session, user index. ARGV: token hash, session id. Deletes the
-- session if the token holds it. Returns {1 if deleted, fields}.
local m = meta(KEYS[1])
if status(m, ARGV[1], nil) ~= 1 then return {0, m} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return {1, m}
