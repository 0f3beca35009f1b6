-- KEYS: session. ARGV: token hash, new token hash, now ('' for any time).
-- Returns {status, fields}; on 1 the token hash was replaced.
local m = meta(KEYS[1])
local s = status(m, ARGV[1], tonumber(ARGV[3]))
if s == 1 then redis.call('HSET', KEYS[1], 'h', ARGV[2]) end
return {s, m}
