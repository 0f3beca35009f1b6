-- KEYS: an export request's replies. ARGV: '1' to delete them once read.
-- Returns the replies so far (HGETALL).
local all = redis.call('HGETALL', KEYS[1])
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
return all
