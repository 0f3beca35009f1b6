-- KEYS: an export request's marker, its replies. ARGV: '1' to close the
-- request (no reply is taken after) and delete the replies once read.
-- Returns the replies so far (HGETALL).
local all = redis.call('HGETALL', KEYS[2])
if ARGV[1] == '1' then redis.call('DEL', KEYS[1], KEYS[2]) end
return all
