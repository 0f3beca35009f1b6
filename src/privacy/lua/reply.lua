-- KEYS: an export request's marker, its replies (a hash). ARGV: the place
-- answering, its rows (JSON). Taken only while the request is open (the
-- marker is there): a reply that comes after the asker gave up is dropped,
-- not left in Redis. Returns 1 if taken.
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ttl + 1000)
return 1
