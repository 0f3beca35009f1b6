-- KEYS: session. ARGV: token hash, now, a marker hash. The first step of
-- moving an anonymous session into its user's slot (a login): the record
-- stops answering to its token, and is returned whole to be copied.
-- Returns {status, fields, all fields and values}.
local m = meta(KEYS[1])
local s = status(m, ARGV[1], tonumber(ARGV[2]))
if s ~= 1 then return {s, m} end
redis.call('HSET', KEYS[1], 'h', ARGV[3])
return {1, m, redis.call('HGETALL', KEYS[1])}
