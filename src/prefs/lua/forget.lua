-- KEYS: values, history. ARGV: the history's length when it was read, how
-- many keys follow, those keys, then the history without their entries.
-- Deletes the keys' values and rewrites the history, unless it grew since
-- it was read (then returns -1 and the engine reads again). Returns how
-- many values were deleted.
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return -1 end
local n = tonumber(ARGV[2])
local deleted = 0
for i = 3, 2 + n do deleted = deleted + redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('DEL', KEYS[2])
for i = 3 + n, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
return deleted
